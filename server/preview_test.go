package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gorilla/websocket"

	"handson/content"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// sandboxApp stands for a student's service in the sandbox (the fake
// engine's sandboxes are at 127.0.0.1): it records what it received,
// answers with the Host it saw, sets cookies, and echoes on /ws.
type sandboxApp struct {
	srv  *httptest.Server
	port int

	mu   sync.Mutex
	reqs []*http.Request
}

func newSandboxApp(t *testing.T) *sandboxApp {
	t.Helper()
	a := &sandboxApp{}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r.Clone(context.Background()))
		a.mu.Unlock()
		switch r.URL.Path {
		case "/ws":
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				c.WriteMessage(mt, append([]byte("echo:"), msg...))
			}
		case "/cookies":
			http.SetCookie(w, &http.Cookie{Name: "handson", Value: "planted", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "handson-preview", Value: "planted", Path: "/"})
			w.Header().Add("Set-Cookie", "wide=1; Path=/; Domain=preview.localhost")
			w.Header().Add("Set-Cookie", "wp_session=abc; Path=/wp-admin; HttpOnly")
		}
		io.WriteString(w, "sandbox app at "+r.Host+r.URL.Path)
	}))
	t.Cleanup(a.srv.Close)
	a.port = a.srv.Listener.Addr().(*net.TCPAddr).Port
	return a
}

func (a *sandboxApp) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		return nil
	}
	return a.reqs[len(a.reqs)-1]
}

func (a *sandboxApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func previewEnv(t *testing.T) (*env, *store.Class) {
	t.Helper()
	e := newEnvWith(t, func(s *Server) { s.PreviewDomain = "preview.localhost" })
	ctx := context.Background()
	e.addUser(t, "teacher", store.RoleInstructor)
	e.addUser(t, "outsider", store.RoleInstructor)
	teacher, _ := e.db.UserByUsername(ctx, "teacher")
	class, err := e.db.CreateClass(ctx, "Docker", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := e.db.UserByUsername(ctx, "alice")
	e.db.Join(ctx, class.ID, alice.ID, store.RoleStudent)
	return e, class
}

// reachAll makes c resolve every host name to the server, as browsers do
// with *.localhost.
func reachAll(c *http.Client, addr string) *http.Client {
	c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return c
}

func (e *env) userID(t *testing.T, name string) int64 {
	t.Helper()
	u, err := e.db.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

var previewURLRe = regexp.MustCompile(`^http://([0-9]+)-([a-z2-7]{16})\.preview\.localhost:[0-9]+/__handson/login\?code=[A-Za-z0-9_-]{43}$`)

// openPreview goes through /preview/open and the login on the preview
// host, and returns the preview's origin.
func openPreview(t *testing.T, e *env, c *http.Client, query string) string {
	t.Helper()
	res, body := get(t, c, e.url+"/preview/open?"+query)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("/preview/open?%s: %d, want 303\n%s", query, res.StatusCode, body)
	}
	loc := res.Header.Get("Location")
	if !previewURLRe.MatchString(loc) {
		t.Fatalf("/preview/open → %q, want http://PORT-ID.preview.localhost:PORT/__handson/login?code=…", loc)
	}
	res, _ = get(t, c, loc)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("preview login: %d, want 303", res.StatusCode)
	}
	ck := res.Cookies()
	if len(ck) != 1 || ck[0].Name != "handson-preview" || !ck[0].HttpOnly || ck[0].Domain != "" || ck[0].Path != "/" {
		t.Fatalf("preview login set %v, want one host-only HttpOnly handson-preview cookie", ck)
	}
	u, _ := url.Parse(loc)
	return "http://" + u.Host
}

func TestPreviewOwner(t *testing.T) {
	e, _ := previewEnv(t)
	app := newSandboxApp(t)
	alice := e.userID(t, "alice")
	key := sandbox.Key{UserID: alice, Lab: "demo"}
	e.fake.Set(key, func(st *sandbox.Status) { st.State = sandbox.Running })
	c := reachAll(e.login(t, "alice"), e.srv.ln.Addr().String())
	port := strconv.Itoa(app.port)

	origin := openPreview(t, e, c, "lab=demo&port="+port+"&path=/wp-admin/")
	host := strings.TrimPrefix(origin, "http://")
	if !strings.HasPrefix(host, port+"-") {
		t.Fatalf("preview host %s does not start with the port", host)
	}
	// The same sandbox and port always get the same host (apps remember it).
	if again := openPreview(t, e, c, "lab=demo&port="+port); again != origin {
		t.Errorf("second open: %s, first %s", again, origin)
	}

	// The app gets the browser's Host, X-Forwarded-*, its own cookies and
	// none of the platform's, even when a client sends them on purpose.
	req, _ := http.NewRequest("GET", origin+"/wp-admin/?x=1", nil)
	session := ""
	platformURL, _ := url.Parse(e.url)
	for _, ck := range c.Jar.Cookies(platformURL) {
		if ck.Name == "handson" {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no platform session cookie in the jar")
	}
	req.Header.Set("Cookie", "app=1; handson="+session+"; __Host-handson=x")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "sandbox app at "+host+"/wp-admin/" {
		t.Fatalf("GET through the preview: %d %q", res.StatusCode, body)
	}
	got := app.last()
	if got.Host != host || got.Header.Get("X-Forwarded-Host") != host || got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("sandbox got Host %q, X-Forwarded-Host %q, -Proto %q, -For %q", got.Host, got.Header.Get("X-Forwarded-Host"), got.Header.Get("X-Forwarded-Proto"), got.Header.Get("X-Forwarded-For"))
	}
	if ck := strings.Join(got.Header.Values("Cookie"), "; "); ck != "app=1" || strings.Contains(ck, session) {
		t.Errorf("sandbox got Cookie %q, want only app=1", ck)
	}

	// The app cannot set the platform's or the preview's cookies, nor
	// cookies for the parent domain.
	res, _ = get(t, c, origin+"/cookies")
	var set []string
	for _, ck := range res.Cookies() {
		set = append(set, ck.Name+"|"+ck.Domain+"|"+ck.Path)
	}
	if strings.Join(set, " ") != "wide||/ wp_session||/wp-admin" {
		t.Errorf("cookies through the preview: %v, want wide (no Domain) and wp_session only", set)
	}

	// A cookie of the preview's name planted for the parent domain (by
	// another preview's page) does not shadow this host's.
	req, _ = http.NewRequest("GET", origin+"/", nil)
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: host}) {
		if ck.Name == "handson-preview" {
			req.Header.Set("Cookie", "handson-preview=planted; handson-preview="+ck.Value)
		}
	}
	if res, err := reachAll(client(), e.srv.ln.Addr().String()).Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("with a planted preview cookie first: %v %v", err, res)
	}

	// Websockets pass.
	wsURL := "ws://" + host + "/ws"
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) { return net.Dial(network, e.srv.ln.Addr().String()) }, Jar: c.Jar}
	ws, res, err := d.Dial(wsURL, http.Header{"Origin": {origin}})
	if err != nil {
		t.Fatalf("websocket through the preview: %v (%v)", err, res)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "echo:hi" {
		t.Errorf("websocket echo: %q %v", msg, err)
	}
	ws.Close()

	// A page of another preview (another student's) cannot make the
	// browser call this one, except by a plain navigation.
	other := "http://8080-aaaaaaaaaaaaaaaa.preview.localhost"
	n := app.count()
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"same-site"}, "Sec-Fetch-Mode": {"cors"}, "Origin": {other}},
		{"Sec-Fetch-Site": {"same-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Referer": {other + "/"}},
		{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}, "Origin": {"https://evil.example"}, "X-Method": {"POST"}},
	} {
		method := "GET"
		if h.Get("X-Method") != "" {
			method = h.Get("X-Method")
		}
		req, _ := http.NewRequest(method, origin+"/", nil)
		req.Header = h
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s with %v: %d, want 403", method, h, res.StatusCode)
		}
	}
	if app.count() != n {
		t.Error("a refused cross-site request reached the sandbox")
	}
	// Another port of the same sandbox may; a navigation may.
	sameSandbox := "http://3000-" + strings.SplitN(strings.TrimPrefix(host, port+"-"), ".", 2)[0] + ".preview.localhost"
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"same-site"}, "Sec-Fetch-Mode": {"cors"}, "Origin": {sameSandbox}},
		{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}},
		{"Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}},
	} {
		req, _ := http.NewRequest("GET", origin+"/", nil)
		req.Header = h
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET with %v: %d, want 200", h, res.StatusCode)
		}
	}

	// The platform is not on the preview host; the preview is not on the
	// platform's host.
	if res, body := get(t, c, origin+"/labs"); res.StatusCode != 200 || body != "sandbox app at "+host+"/labs" {
		t.Errorf("/labs on the preview host: %d %q, want the sandbox's", res.StatusCode, body)
	}
	if res, _ := get(t, c, origin+"/__handson/other"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/__handson/other: %d, want 404", res.StatusCode)
	}
	if res, _ := get(t, c, e.url+"/__handson/login?code=x"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the preview login on the platform's host: %d, want 404", res.StatusCode)
	}

	// Logout ends the preview.
	res, _ = post(t, c, e.url+"/logout", http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	n = app.count()
	if res, body := get(t, c, origin+"/"); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-preview-state="forbidden"`) {
		t.Errorf("after logout: %d, want 403", res.StatusCode)
	}
	if app.count() != n {
		t.Error("after logout a request reached the sandbox")
	}
}

func TestPreviewAccess(t *testing.T) {
	e, _ := previewEnv(t)
	app := newSandboxApp(t)
	alice := e.userID(t, "alice")
	e.fake.Set(sandbox.Key{UserID: alice, Lab: "demo"}, func(st *sandbox.Status) { st.State = sandbox.Running })
	addr := e.srv.ln.Addr().String()
	port := strconv.Itoa(app.port)
	q := "lab=demo&port=" + port + "&user=" + strconv.FormatInt(alice, 10)

	// Another student and an instructor of another class are refused.
	for _, name := range []string{"bob", "outsider"} {
		c := reachAll(e.login(t, name), addr)
		if res, _ := get(t, c, e.url+"/preview/open?"+q); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s opens alice's preview: %d, want 403", name, res.StatusCode)
		}
	}
	// Alice's instructor may.
	teacher := reachAll(e.login(t, "teacher"), addr)
	origin := openPreview(t, e, teacher, q)
	if res, body := get(t, teacher, origin+"/"); res.StatusCode != 200 || !strings.HasPrefix(body, "sandbox app") {
		t.Fatalf("alice's instructor: %d %q", res.StatusCode, body)
	}

	// Bob, with the preview's address but not its cookie, is refused; so
	// is a login link used twice.
	bob := reachAll(e.login(t, "bob"), addr)
	if res, body := get(t, bob, origin+"/"); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "lab page") {
		t.Errorf("bob on alice's preview: %d %q", res.StatusCode, body)
	}
	res, _ := get(t, teacher, e.url+"/preview/open?"+q)
	link := res.Header.Get("Location")
	if res, _ := get(t, bob, link); res.StatusCode != 303 {
		t.Fatalf("first use of a link: %d", res.StatusCode)
	}
	fresh := reachAll(client(), addr)
	if res, body := get(t, fresh, link); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-preview-state="expired"`) {
		t.Errorf("second use of a link: %d %q, want 403 expired", res.StatusCode, body)
	}
	// A code is for its own host only.
	res, _ = get(t, teacher, e.url+"/preview/open?lab=demo&port=1&user="+strconv.FormatInt(alice, 10))
	code := strings.SplitN(res.Header.Get("Location"), "code=", 2)[1]
	if res, _ := get(t, fresh, origin+"/__handson/login?code="+code); res.StatusCode != http.StatusForbidden {
		t.Errorf("a code of port 1 on port %s: %d, want 403", port, res.StatusCode)
	}

	// Japanese pages for a Japanese browser; a host that is no preview.
	req, _ := http.NewRequest("GET", origin+"/", nil)
	req.Header.Set("Accept-Language", "ja,en;q=0.5")
	res, err := fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || !strings.Contains(string(body), "演習ページからプレビューを開いてください") || !strings.Contains(string(body), `lang="ja"`) {
		t.Errorf("Japanese 403 page: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, fresh, "http://nope.preview.localhost/"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown preview host: %d, want 404", res.StatusCode)
	}

	// A password reset ends the instructor's sessions, and so the grant at
	// its next check.
	e.srv.preview.mu.Lock()
	for _, g := range e.srv.preview.grants {
		g.checked = g.checked.Add(-2 * previewRecheck)
	}
	e.srv.preview.mu.Unlock()
	if err := e.db.SetPassword(context.Background(), e.userID(t, "teacher"), "x"); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, teacher, origin+"/"); res.StatusCode != http.StatusForbidden {
		t.Errorf("instructor after a password reset: %d, want 403", res.StatusCode)
	}
}

func TestPreviewNotYet(t *testing.T) {
	e, _ := previewEnv(t)
	alice := e.userID(t, "alice")
	key := sandbox.Key{UserID: alice, Lab: "demo"}
	c := reachAll(e.login(t, "alice"), e.srv.ln.Addr().String())
	// A port where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	origin := openPreview(t, e, c, "lab=demo&port="+strconv.Itoa(port))

	res, body := get(t, c, origin+"/")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `data-preview-state="stopped"`) || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "/labs/demo") {
		t.Errorf("stopped sandbox: %d\n%s", res.StatusCode, body)
	}
	e.fake.Set(key, func(st *sandbox.Status) { st.State = sandbox.Running })
	res, body = get(t, c, origin+"/")
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, `data-preview-state="closed"`) || !strings.Contains(body, "Nothing listens on port "+strconv.Itoa(port)) {
		t.Errorf("nothing listening: %d\n%s", res.StatusCode, body)
	}
}

// The platform's own defences against what a preview page can do:
// requests made by another site's page have no session, and a planted
// second session cookie is refused rather than used.
func TestSessionFromForeignPagesAndPlantedCookies(t *testing.T) {
	e := newEnv(t)
	alice := e.login(t, "alice")
	bob := e.login(t, "bob")
	platformURL, _ := url.Parse(e.url)
	cookie := func(c *http.Client) string { return c.Jar.Cookies(platformURL)[0].Value }

	do := func(h http.Header) int {
		req, _ := http.NewRequest("GET", e.url+"/labs/demo", nil)
		req.Header = h
		res, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	a := "handson=" + cookie(alice)
	for _, tc := range []struct {
		h    http.Header
		want int
	}{
		{http.Header{"Cookie": {a}}, 200},
		{http.Header{"Cookie": {a}, "Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}}, 200},
		{http.Header{"Cookie": {a}, "Sec-Fetch-Site": {"same-site"}, "Sec-Fetch-Mode": {"navigate"}}, 200},
		{http.Header{"Cookie": {a}, "Sec-Fetch-Site": {"same-site"}, "Sec-Fetch-Mode": {"cors"}}, 303}, // to the login page
		{http.Header{"Cookie": {a}, "Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}}, 303},
		{http.Header{"Cookie": {"handson=junk; " + a}}, 200},
		{http.Header{"Cookie": {"handson=" + cookie(bob) + "; " + a}}, 403},
	} {
		if got := do(tc.h); got != tc.want {
			t.Errorf("GET /labs/demo with %v: %d, want %d", tc.h, got, tc.want)
		}
	}
}

func TestPreviewControls(t *testing.T) {
	e, class := previewEnv(t)
	course, err := content.Load(fstest.MapFS{"demo/lab.md": {Data: []byte(strings.Replace(testLab, "title: Demo\n", "title: Demo\nports: [8080, 3000]\n", 1))}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetCourse(course)
	_, body := get(t, e.login(t, "alice"), e.url+"/labs/demo")
	for _, want := range []string{`<form class="preview" action="/preview/open" method="get" target="_blank"`, `href="/preview/open?lab=demo&amp;port=8080"`, `href="/preview/open?lab=demo&amp;port=3000"`, `name="port"`} {
		if !strings.Contains(body, want) {
			t.Errorf("lab page lacks %s", want)
		}
	}
	alice := strconv.FormatInt(e.userID(t, "alice"), 10)
	_, body = get(t, e.login(t, "teacher"), e.url+"/classes/"+strconv.FormatInt(class.ID, 10)+"/members/"+alice+"/labs/demo/terminal")
	if !strings.Contains(body, `href="/preview/open?lab=demo&amp;port=8080&amp;user=`+alice+`"`) || !strings.Contains(body, `name="user" value="`+alice+`"`) {
		t.Errorf("the instructor's watch page lacks the student's preview links")
	}
	// Off: no control, and /preview/open says so.
	off := newEnv(t)
	c := off.login(t, "alice")
	if _, body := get(t, c, off.url+"/labs/demo"); strings.Contains(body, "/preview/open") {
		t.Error("a preview control with the preview off")
	}
	if res, _ := get(t, c, off.url+"/preview/open?lab=demo&port=8080"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/preview/open with the preview off: %d, want 404", res.StatusCode)
	}
}

func TestPersonActive(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{"Sec-Fetch-Mode": {"navigate"}}, true},
		{http.Header{"Sec-Fetch-Mode": {"websocket"}}, true},
		{http.Header{"Sec-Fetch-Mode": {"cors"}}, false},    // a script's fetch: a poll, a heartbeat
		{http.Header{"Sec-Fetch-Mode": {"no-cors"}}, false}, // an image, a script
		{http.Header{"Accept": {"text/html,*/*"}}, true},    // a browser without Fetch Metadata
		{http.Header{"Accept": {"application/json"}}, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header = tc.h
		if got := personActive(r); got != tc.want {
			t.Errorf("personActive(%v) = %t, want %t", tc.h, got, tc.want)
		}
	}
}
