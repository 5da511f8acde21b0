package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"handson/internal/sandbox"
	"handson/internal/testenv"
)

// TestPreviewRealSandbox serves pages from a real sandbox through the web
// preview: busybox httpd in the student's own Docker (docker run -p), and
// a program of the test's (testdata/previewapp) that writes down what it
// receives. The owner reaches them, another student does not, websockets
// pass, the platform's session cookie never reaches the sandbox, and (with
// a real Chromium) a page served from the sandbox cannot read or use the
// platform's cookies.
func TestPreviewRealSandbox(t *testing.T) {
	testenv.RequireDocker(t)
	p := newTermPlatform(t)
	a := p.a
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", p.logs)
		}
	})
	const ownerPW, otherPW = "pv-owner-pw-3f1a", "pv-other-pw-8c2d"
	owner := p.student("pv-owner", ownerPW)
	p.student("pv-other", otherPW)
	key := sandbox.Key{UserID: owner, Lab: e2eLab}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	started := time.Now()
	app := buildPreviewApp(t)
	t.Logf("timing: testdata/previewapp built in %s", since(started))
	started = time.Now()
	sb, err := a.Server.Sandboxes.Open(ctx, key, a.Labs.Spec(a.Server.CurrentCourse().Lab(e2eLab).Primary), nil)
	if err != nil {
		t.Fatalf("start the sandbox: %v", err)
	}
	t.Logf("timing: sandbox ready in %s", since(started))
	run := func(user string, script string) string {
		t.Helper()
		res, err := a.Engine.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", script}, User: user, Timeout: 2 * time.Minute})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("in the sandbox: %s: %v %+v", script, err, res)
		}
		return string(res.Output)
	}
	// A student's web server in their own Docker, published with -p (its
	// port is rootlesskit's, in the sandbox's network namespace) …
	run("", `docker run -d --name web -p 8080:8080 busybox sh -c 'mkdir /www && echo preview-ok >/www/index.html && exec httpd -f -p 8080 -h /www'`)
	// … and a plain process of the student's that records what it gets.
	copied := time.Now()
	if err := a.Labs.CopyAssets(ctx, sb, os.DirFS(filepath.Dir(app))); err != nil {
		t.Fatalf("copy previewapp into the sandbox: %v", err)
	}
	t.Logf("timing: previewapp copied into the sandbox in %s", since(copied))
	run("", `nohup /home/student/previewapp -addr :8090 -log /tmp/previewapp.jsonl >/tmp/previewapp.out 2>&1 &`)

	platform, _ := url.Parse(a.Server.URL())
	listen := platform.Host
	ownerC := previewClient(t, a.Server.URL(), listen, "pv-owner", ownerPW)
	otherC := previewClient(t, a.Server.URL(), listen, "pv-other", otherPW)

	// The owner opens port 8080 the way the lab page's link does.
	opened := time.Now()
	origin, body := followPreview(t, ownerC, a.Server.URL()+"/preview/open?lab="+e2eLab+"&port=8080", 200, 30*time.Second)
	t.Logf("timing: /preview/open → page served by the sandbox: %s (%s)", since(opened), origin)
	if body != "preview-ok\n" {
		t.Fatalf("owner's preview of 8080 = %q, want the sandbox's page", body)
	}
	// Latency through the proxy, warm.
	var lat []time.Duration
	for range 50 {
		s := time.Now()
		res, err := ownerC.Get(origin + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(s))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("timing: GET through the preview to busybox httpd, 50 requests: median %s, p90 %s", lat[25].Round(10*time.Microsecond), lat[45].Round(10*time.Microsecond))

	// Another student is refused, with the link and with the address.
	res, _ := httpGet(t, otherC, a.Server.URL()+"/preview/open?lab="+e2eLab+"&port=8080&user="+strconv.FormatInt(owner, 10))
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("another student opens the owner's preview: %d, want 403", res.StatusCode)
	}
	res, body = httpGet(t, otherC, origin+"/")
	if res.StatusCode != http.StatusForbidden || strings.Contains(body, "preview-ok") {
		t.Errorf("another student at the owner's preview address: %d %q, want 403", res.StatusCode, body)
	}

	// The recorder on 8090: the platform's session cookie never reaches
	// the sandbox, not even when a client sends it to the preview host on
	// purpose; the Host and X-Forwarded-* do.
	session := ""
	for _, c := range ownerC.Jar.Cookies(platform) {
		if c.Name == "handson" {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("no platform session cookie")
	}
	origin8090, body := followPreview(t, ownerC, a.Server.URL()+"/preview/open?lab="+e2eLab+"&port=8090&path=/first", 200, 30*time.Second)
	if !strings.HasPrefix(body, "previewapp ") {
		t.Fatalf("preview of 8090: %q", body)
	}
	u8090, _ := url.Parse(origin8090)
	previewCookie := ""
	for _, c := range ownerC.Jar.Cookies(u8090) {
		if c.Name == "handson-preview" {
			previewCookie = c.Value
		}
	}
	req, _ := http.NewRequest("GET", origin8090+"/sent-on-purpose", nil)
	req.Header.Set("Cookie", "app=1; handson="+session)
	req.AddCookie(&http.Cookie{Name: "handson-preview", Value: previewCookie})
	if res, err := ownerC.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET with the session cookie added: %v %v", err, res)
	} else {
		res.Body.Close()
	}

	// A websocket through the preview.
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) { return net.Dial(network, listen) }, Jar: ownerC.Jar}
	ws, res, err := d.Dial("ws://"+u8090.Host+"/ws", http.Header{"Origin": {origin8090}})
	if err != nil {
		t.Fatalf("websocket through the preview: %v (%v)", err, res)
	}
	for i := range 3 {
		msg := fmt.Sprintf("こんにちは %d", i)
		ws.WriteMessage(websocket.TextMessage, []byte(msg))
		if _, got, err := ws.ReadMessage(); err != nil || string(got) != "echo:"+msg {
			t.Fatalf("websocket echo: %q %v", got, err)
		}
	}
	ws.Close()

	// Every request the sandbox received: no platform or preview cookie,
	// the browser's Host, X-Forwarded-*.
	checkReceived := func() []recordedRequest {
		t.Helper()
		reqs := sandboxRequests(t, run)
		for _, r := range reqs {
			all, _ := json.Marshal(r)
			if bytes.Contains(all, []byte(session)) || (previewCookie != "" && bytes.Contains(all, []byte(previewCookie))) {
				t.Errorf("the sandbox received a platform or preview cookie: %s", all)
			}
			for _, c := range r.Header["Cookie"] {
				for _, part := range strings.Split(c, ";") {
					name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
					if name == "handson" || name == "__Host-handson" || name == "handson-preview" {
						t.Errorf("the sandbox received a cookie named %s (%s)", name, r.URI)
					}
				}
			}
			if r.Host != u8090.Host || r.Header.Get("X-Forwarded-Host") != u8090.Host || r.Header.Get("X-Forwarded-Proto") != "http" || r.Header.Get("X-Forwarded-For") == "" {
				t.Errorf("the sandbox got %s with Host %q, X-Forwarded-Host %q, -Proto %q, -For %q", r.URI, r.Host, r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For"))
			}
		}
		return reqs
	}
	reqs := checkReceived()
	if len(reqs) < 3 {
		t.Fatalf("the sandbox recorded %d requests, want at least 3", len(reqs))
	}
	onPurpose := reqs[slices.IndexFunc(reqs, func(r recordedRequest) bool { return r.URI == "/sent-on-purpose" })]
	if got := strings.Join(onPurpose.Header["Cookie"], "; "); got != "app=1" {
		t.Errorf("the request sent with the session cookie reached the sandbox with Cookie %q, want app=1", got)
	}
	if i := slices.IndexFunc(reqs, func(r recordedRequest) bool { return r.URI == "/ws" }); i < 0 || reqs[i].Header.Get("Upgrade") != "websocket" {
		t.Errorf("the websocket upgrade did not reach the sandbox as one")
	}
	t.Logf("the sandbox received %d requests, none with a platform cookie", len(reqs))

	t.Run("chromium", func(t *testing.T) { previewBrowser(t, p, owner, ownerPW, listen) })
	// Those of the browser too (it sent the cookies the page planted).
	if n := len(checkReceived()); n > len(reqs) {
		t.Logf("the sandbox received %d requests in all, none with a platform cookie", n)
	}

	// Nothing on a port, then a stopped sandbox: pages that say so and
	// retry by themselves.
	_, body = followPreview(t, ownerC, a.Server.URL()+"/preview/open?lab="+e2eLab+"&port=8081", http.StatusBadGateway, 30*time.Second)
	if !strings.Contains(body, `data-preview-state="closed"`) || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("nothing on 8081: %s", body)
	}
	stopping := time.Now()
	if err := a.Engine.Stop(ctx, key); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: sandbox stopped in %s", since(stopping))
	res, body = httpGet(t, ownerC, origin+"/")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `data-preview-state="stopped"`) {
		t.Errorf("stopped sandbox: %d %s", res.StatusCode, body)
	}
}

// previewBrowser: a real Chromium, logged in to the platform at
// http://localhost:PORT (so that previews are on subdomains of a parent
// the page may try to set cookies for), opens the recorder's /page, whose
// script tries to read the platform's cookies, call its API, reset the
// sandbox, and plant cookies named like the platform's.
func previewBrowser(t *testing.T, p *termPlatform, owner int64, password, listen string) {
	chromium := testenv.Chromium(t)
	_, port, _ := net.SplitHostPort(listen)
	platform := "http://localhost:" + port
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(p.logs)
		}
	})
	b.do("open the login page", chromedp.Navigate(platform+"/login"))
	b.do("log in",
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "pv-owner"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)),
	)
	waitJS(t, b, "the labs page after login", `location.pathname === '/labs' && document.querySelector('.user') !== null`, 15*time.Second)

	// From the lab page's control, as a student does it: port 8090 typed in.
	b.do("open the lab page", chromedp.Navigate(platform+"/labs/"+e2eLab))
	waitJS(t, b, "the preview control", `document.querySelector('form.preview input[name=port]') !== null`, 15*time.Second)
	q := url.Values{"platform": {platform}, "lab": {e2eLab}}
	open := platform + "/preview/open?" + url.Values{"lab": {e2eLab}, "port": {"8090"}, "path": {"/page?" + q.Encode()}}.Encode()
	b.do("open the preview", chromedp.Navigate(open))
	waitJS(t, b, "the student page's report", `location.host.endsWith('.preview.localhost:`+port+`') && window.__result !== undefined`, 20*time.Second)
	r, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]string](`window.__result`))
	if err != nil {
		t.Fatal(err)
	}
	here, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.origin`))
	t.Logf("the preview page at %s reports: %q", here, r)
	if strings.Contains(r["cookie"], "handson=") && !strings.Contains(r["cookie"], "handson=tossed") {
		t.Errorf("document.cookie on the preview shows the platform's session: %q", r["cookie"])
	}
	if strings.Contains(r["cookie"], "handson-preview=") && !strings.Contains(r["cookie"], "handson-preview=tossed") {
		t.Errorf("document.cookie on the preview shows the preview cookie: %q", r["cookie"])
	}
	if !strings.HasPrefix(r["fetchLabs"], "refused") {
		t.Errorf("a fetch from the preview to the platform was answered: %q", r["fetchLabs"])
	}
	// The sandbox still runs: the page's POST to reset it (awaited before
	// the report) was refused.
	if st, err := p.a.Engine.Status(context.Background(), sandbox.Key{UserID: owner, Lab: e2eLab}, false); err != nil || st.State != sandbox.Running {
		t.Errorf("after the page's reset attempt the sandbox is %v (%v), want running", st, err)
	}
	// What the browser sends where now: the tossed cookies, wherever
	// Chromium let them land, and the real ones.
	for _, site := range []string{platform + "/", here + "/"} {
		var got []string
		b.do("read the cookies for "+site, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{site}})
			if err != nil {
				return err
			}
			for _, c := range res.Cookies {
				v := c.Value
				if len(v) > 12 {
					v = v[:6] + "…"
				}
				got = append(got, fmt.Sprintf("%s=%s (domain %s, httpOnly %t)", c.Name, v, c.Domain, c.HTTPOnly))
			}
			return nil
		}))
		t.Logf("Chromium sends to %s: %s", site, strings.Join(got, "; "))
	}
	// The preview still opens, with a planted handson-preview cookie beside
	// the real one.
	b.do("reload the preview", chromedp.Navigate(here+"/again"))
	waitJS(t, b, "the preview, cookies planted", `document.body && document.body.innerText.startsWith('previewapp ')`, 15*time.Second)
	// Back on the platform: still the owner's session, whatever was tossed.
	b.do("back to the platform", chromedp.Navigate(platform+"/labs"))
	waitJS(t, b, "the labs page, still logged in as the owner", `location.pathname === '/labs' && (document.querySelector('.user') || {}).textContent === 'pv-owner'`, 15*time.Second)
}

// waitJS polls a JavaScript condition.
func waitJS(t *testing.T, b *e2eBrowser, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			where, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + ' ' + document.title + ' ' + (document.body ? document.body.innerText.slice(0, 300) : '')`))
			t.Fatalf("waited %s for %s (%s); the page: %s (last error %v)", timeout, what, cond, where, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildPreviewApp compiles testdata/previewapp for the sandbox (static,
// Linux, this machine's architecture) and returns its path.
func buildPreviewApp(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "previewapp")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/previewapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/previewapp: %v\n%s", err, b)
	}
	return out
}

// previewClient logs in with a cookie jar, and reaches every host name
// (preview hosts are *.localhost) at the platform's listener, as browsers
// resolve *.localhost to loopback.
func previewClient(t *testing.T, base, listen, user, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, listen)
		}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	res, err := c.PostForm(base+"/login", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("login %s: %d", user, res.StatusCode)
	}
	return c
}

func httpGet(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// followPreview opens a preview link and follows it to the sandbox's
// answer, retrying while the service comes up; it returns the preview's
// origin and the body.
func followPreview(t *testing.T, c *http.Client, link string, want int, timeout time.Duration) (string, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res, body := httpGet(t, c, link)
		if res.StatusCode == want {
			return res.Request.URL.Scheme + "://" + res.Request.URL.Host, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d\n%s", link, res.StatusCode, want, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

type recordedRequest struct {
	Method, URI, Host string
	Header            http.Header
}

// sandboxRequests reads what previewapp received, from inside the sandbox.
func sandboxRequests(t *testing.T, run func(user, script string) string) []recordedRequest {
	t.Helper()
	var out []recordedRequest
	sc := bufio.NewScanner(strings.NewReader(run("", "cat /tmp/previewapp.jsonl")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r recordedRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("previewapp's log: %v: %s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}
