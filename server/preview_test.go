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

	"handson/content"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// The preview itself is tested in internal/preview; these tests cover its
// glue: the Host dispatch, GET /preview/open, the platform's sessions,
// access rule and sandboxes behind preview.Platform, and logout.

// sandboxApp stands for a student's service in the sandbox (the fake
// engine's sandboxes are at 127.0.0.1): it records what it received and
// answers with the Host it saw.
type sandboxApp struct {
	port int

	mu   sync.Mutex
	reqs []*http.Request
}

func newSandboxApp(t *testing.T) *sandboxApp {
	t.Helper()
	a := &sandboxApp{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r.Clone(context.Background()))
		a.mu.Unlock()
		io.WriteString(w, "sandbox app at "+r.Host+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	a.port = srv.Listener.Addr().(*net.TCPAddr).Port
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

// sessionOfClient is the platform session in c's cookie jar.
func (e *env) sessionOfClient(t *testing.T, c *http.Client) string {
	t.Helper()
	platformURL, _ := url.Parse(e.url)
	for _, ck := range c.Jar.Cookies(platformURL) {
		if ck.Name == "handson" {
			return ck.Value
		}
	}
	t.Fatal("no platform session cookie in the jar")
	return ""
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
	c := reachAll(e.login(t, "alice"), e.srv.ln.Addr().String())
	port := strconv.Itoa(app.port)

	origin := openPreview(t, e, c, "lab=demo&port="+port+"&path=/wp-admin/")
	host := strings.TrimPrefix(origin, "http://")

	// Before the sandbox runs: the preview's page, with a way back to the
	// lab page.
	res, body := get(t, c, origin+"/")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `data-preview-state="stopped"`) || !strings.Contains(body, e.url+"/labs/demo") {
		t.Errorf("stopped sandbox: %d\n%s", res.StatusCode, body)
	}

	// Running: the manager's address; the platform's session cookie stays
	// out of the sandbox, even when a client sends it on purpose.
	e.fake.Set(key, func(st *sandbox.Status) { st.State = sandbox.Running })
	session := e.sessionOfClient(t, c)
	req, _ := http.NewRequest("GET", origin+"/wp-admin/?x=1", nil)
	req.Header.Set("Cookie", "app=1; handson="+session+"; __Host-handson=x")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "sandbox app at "+host+"/wp-admin/" {
		t.Fatalf("GET through the preview: %d %q", res.StatusCode, b)
	}
	if ck := strings.Join(app.last().Header.Values("Cookie"), "; "); ck != "app=1" || strings.Contains(ck, session) {
		t.Errorf("sandbox got Cookie %q, want only app=1", ck)
	}

	// The platform is not on the preview host; the preview is not on the
	// platform's host.
	if res, body := get(t, c, origin+"/labs"); res.StatusCode != 200 || body != "sandbox app at "+host+"/labs" {
		t.Errorf("/labs on the preview host: %d %q, want the sandbox's", res.StatusCode, body)
	}
	if res, _ := get(t, c, e.url+"/__handson/login?code=x"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the preview login on the platform's host: %d, want 404", res.StatusCode)
	}

	// Logout ends the preview.
	res, _ = post(t, c, e.url+"/logout", http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	n := app.count()
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
		if res, body := get(t, c, e.url+"/preview/open?"+q); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "is not in a class you teach") {
			t.Errorf("%s opens alice's preview: %d, want 403 saying why", name, res.StatusCode)
		}
	}
	// What the platform's handler checks itself.
	c := reachAll(e.login(t, "alice"), addr)
	for query, want := range map[string]int{"lab=nope&port=80": 404, "lab=demo&port=x": 400, "lab=demo&port=80&user=x": 400} {
		if res, _ := get(t, c, e.url+"/preview/open?"+query); res.StatusCode != want {
			t.Errorf("/preview/open?%s: %d, want %d", query, res.StatusCode, want)
		}
	}
	// Alice's instructor may.
	teacher := reachAll(e.login(t, "teacher"), addr)
	origin := openPreview(t, e, teacher, q)
	if res, body := get(t, teacher, origin+"/"); res.StatusCode != 200 || !strings.HasPrefix(body, "sandbox app") {
		t.Fatalf("alice's instructor: %d %q", res.StatusCode, body)
	}

	// The preview sees the platform's access rule …
	p := previewPlatform{e.srv}
	ctx := context.Background()
	for _, tc := range []struct {
		viewer string
		want   bool
	}{{"alice", true}, {"teacher", true}, {"bob", false}, {"outsider", false}} {
		if ok, err := p.MayPreview(ctx, e.userID(t, tc.viewer), alice); err != nil || ok != tc.want {
			t.Errorf("MayPreview(%s, alice) = %t, %v; want %t", tc.viewer, ok, err, tc.want)
		}
	}
	// … and its sessions: a password reset ends the instructor's, and so
	// the grant at its next check.
	session := e.sessionOfClient(t, teacher)
	if user, ok, err := p.SessionUser(ctx, session); err != nil || !ok || user != e.userID(t, "teacher") {
		t.Errorf("SessionUser of the instructor's session: %d %t %v", user, ok, err)
	}
	if err := e.db.SetPassword(ctx, e.userID(t, "teacher"), "x"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := p.SessionUser(ctx, session); err != nil || ok {
		t.Errorf("SessionUser after a password reset: %t %v, want ended", ok, err)
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
