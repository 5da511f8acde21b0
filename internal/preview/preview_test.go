package preview

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"handson/internal/apperr"
	"handson/internal/sandbox"
)

// Users of the fake platform.
const (
	aliceID int64 = iota + 1
	bobID
	teacherID  // alice's instructor
	outsiderID // an instructor of another class
)

var names = map[string]int64{"alice": aliceID, "bob": bobID, "teacher": teacherID, "outsider": outsiderID}

// fakePlatform is the platform as the preview sees it: sessions, who
// teaches whom, running sandboxes (at 127.0.0.1, where the tests' apps
// listen) and what was touched.
type fakePlatform struct {
	mu       sync.Mutex
	sessions map[string]int64
	teaches  map[[2]int64]bool // {instructor, student}
	running  map[sandbox.Key]bool
	addrErr  error // when set, Addr fails with it
	touched  []sandbox.Key
}

func (f *fakePlatform) SessionUser(ctx context.Context, session string) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.sessions[session]
	return u, ok, nil
}

func (f *fakePlatform) MayPreview(ctx context.Context, viewer, student int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return viewer == student || f.teaches[[2]int64{viewer, student}], nil
}

func (f *fakePlatform) Addr(ctx context.Context, key sandbox.Key) (netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrErr != nil {
		return netip.Addr{}, f.addrErr
	}
	if !f.running[key] {
		return netip.Addr{}, sandbox.ErrNotRunning
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
}

func (f *fakePlatform) Touch(key sandbox.Key) {
	f.mu.Lock()
	f.touched = append(f.touched, key)
	f.mu.Unlock()
}

func (f *fakePlatform) set(change func(f *fakePlatform)) {
	f.mu.Lock()
	change(f)
	f.mu.Unlock()
}

// env is a Service behind a listener, as the platform serves it: preview
// hosts to the Service, every other host to a stand-in of the platform
// whose GET /preview/open calls Open for the user of the "handson" cookie.
type env struct {
	svc      *Service
	platform *fakePlatform
	ln       net.Listener
	url      string // the platform's
}

func newEnv(t *testing.T) *env {
	t.Helper()
	f := &fakePlatform{
		sessions: map[string]int64{},
		teaches:  map[[2]int64]bool{{teacherID, aliceID}: true},
		running:  map[sandbox.Key]bool{},
	}
	svc, err := New(Config{Domain: "preview.localhost", Secret: []byte("test secret"), PlatformCookies: []string{"handson", "__Host-handson"}, Platform: f})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{svc: svc, platform: f}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /preview/open", e.open)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if svc.IsPreviewHost(r.Host) {
			svc.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.ln, e.url = srv.Listener, srv.URL
	return e
}

// open stands for the platform's GET /preview/open.
func (e *env) open(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("handson")
	if err != nil {
		http.Error(w, "log in", http.StatusUnauthorized)
		return
	}
	viewer, ok, _ := e.platform.SessionUser(r.Context(), c.Value)
	if !ok {
		http.Error(w, "log in", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	student := viewer
	if q.Has("user") {
		student, _ = strconv.ParseInt(q.Get("user"), 10, 64)
	}
	back := "/labs/" + q.Get("lab")
	if student != viewer {
		back = "/classes"
	}
	port, _ := strconv.Atoi(q.Get("port"))
	err = e.svc.Open(w, r, Opening{Viewer: viewer, Session: c.Value, Key: sandbox.Key{UserID: student, Lab: q.Get("lab")}, Port: port, Path: q.Get("path"), Lang: "en", Back: back})
	if err != nil {
		status := map[string]int{apperr.Invalid: 400, apperr.Forbidden: 403, apperr.Unavailable: 503}[apperr.Code(err)]
		http.Error(w, apperr.Message(err), status)
	}
}

// login gives name a platform session: a "handson" cookie for the
// platform's host in a client that reaches every host name at the
// listener, as browsers do with *.localhost, and does not follow
// redirects.
func (e *env) login(t *testing.T, name string) *http.Client {
	t.Helper()
	c := client(e)
	session := "session-of-" + name
	e.platform.set(func(f *fakePlatform) { f.sessions[session] = names[name] })
	u, _ := url.Parse(e.url)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "handson", Value: session, Path: "/"}})
	return c
}

// client is a browser without a platform session.
func client(e *env) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.ln.Addr().String())
		}},
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// sandboxApp stands for a student's service in the sandbox (the fake
// platform's sandboxes are at 127.0.0.1): it records what it received,
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
	e := newEnv(t)
	app := newSandboxApp(t)
	key := sandbox.Key{UserID: aliceID, Lab: "demo"}
	e.platform.set(func(f *fakePlatform) { f.running[key] = true })
	c := e.login(t, "alice")
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
	session := "session-of-alice"
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
	if res, err := client(e).Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("with a planted preview cookie first: %v %v", err, res)
	}

	// Websockets pass.
	wsURL := "ws://" + host + "/ws"
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) { return net.Dial(network, e.ln.Addr().String()) }, Jar: c.Jar}
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

	// Every path but /__handson/ is the sandbox's.
	if res, body := get(t, c, origin+"/labs"); res.StatusCode != 200 || body != "sandbox app at "+host+"/labs" {
		t.Errorf("/labs on the preview host: %d %q, want the sandbox's", res.StatusCode, body)
	}
	if res, _ := get(t, c, origin+"/__handson/other"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/__handson/other: %d, want 404", res.StatusCode)
	}

	// The end of the platform session (logout) ends the preview.
	e.svc.RevokeSession(session)
	n = app.count()
	if res, body := get(t, c, origin+"/"); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-preview-state="forbidden"`) {
		t.Errorf("after logout: %d, want 403", res.StatusCode)
	}
	if app.count() != n {
		t.Error("after logout a request reached the sandbox")
	}
}

func TestPreviewAccess(t *testing.T) {
	e := newEnv(t)
	app := newSandboxApp(t)
	e.platform.set(func(f *fakePlatform) { f.running[sandbox.Key{UserID: aliceID, Lab: "demo"}] = true })
	port := strconv.Itoa(app.port)
	q := "lab=demo&port=" + port + "&user=" + strconv.FormatInt(aliceID, 10)

	// Another student and an instructor of another class are refused.
	for _, name := range []string{"bob", "outsider"} {
		c := e.login(t, name)
		if res, _ := get(t, c, e.url+"/preview/open?"+q); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s opens alice's preview: %d, want 403", name, res.StatusCode)
		}
	}
	// So is a port that is none.
	for _, p := range []string{"0", "65536", "x"} {
		if res, _ := get(t, e.login(t, "alice"), e.url+"/preview/open?lab=demo&port="+p); res.StatusCode != http.StatusBadRequest {
			t.Errorf("port %s: %d, want 400", p, res.StatusCode)
		}
	}
	// Alice's instructor may.
	teacher := e.login(t, "teacher")
	origin := openPreview(t, e, teacher, q)
	if res, body := get(t, teacher, origin+"/"); res.StatusCode != 200 || !strings.HasPrefix(body, "sandbox app") {
		t.Fatalf("alice's instructor: %d %q", res.StatusCode, body)
	}

	// Bob, with the preview's address but not its cookie, is refused; so
	// is a login link used twice.
	bob := e.login(t, "bob")
	if res, body := get(t, bob, origin+"/"); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "lab page") {
		t.Errorf("bob on alice's preview: %d %q", res.StatusCode, body)
	}
	res, _ := get(t, teacher, e.url+"/preview/open?"+q)
	link := res.Header.Get("Location")
	if res, _ := get(t, bob, link); res.StatusCode != 303 {
		t.Fatalf("first use of a link: %d", res.StatusCode)
	}
	fresh := client(e)
	if res, body := get(t, fresh, link); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-preview-state="expired"`) {
		t.Errorf("second use of a link: %d %q, want 403 expired", res.StatusCode, body)
	}
	// A code is for its own host only.
	res, _ = get(t, teacher, e.url+"/preview/open?lab=demo&port=1&user="+strconv.FormatInt(aliceID, 10))
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

	// At its next check, a grant ends with its platform session (a
	// password reset ends the instructor's sessions) …
	recheckNow := func() {
		e.svc.mu.Lock()
		for _, g := range e.svc.grants {
			g.checked = g.checked.Add(-2 * recheck)
		}
		e.svc.mu.Unlock()
	}
	recheckNow()
	e.platform.set(func(f *fakePlatform) { delete(f.sessions, "session-of-teacher") })
	if res, _ := get(t, teacher, origin+"/"); res.StatusCode != http.StatusForbidden {
		t.Errorf("instructor after a password reset: %d, want 403", res.StatusCode)
	}
	// … and with the access (the instructor leaves the class).
	teacher = e.login(t, "teacher")
	origin = openPreview(t, e, teacher, q)
	recheckNow()
	e.platform.set(func(f *fakePlatform) { delete(f.teaches, [2]int64{teacherID, aliceID}) })
	if res, _ := get(t, teacher, origin+"/"); res.StatusCode != http.StatusForbidden {
		t.Errorf("instructor after leaving the class: %d, want 403", res.StatusCode)
	}
}

func TestPreviewNotYet(t *testing.T) {
	e := newEnv(t)
	key := sandbox.Key{UserID: aliceID, Lab: "demo"}
	c := e.login(t, "alice")
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
	e.platform.set(func(f *fakePlatform) { f.running[key] = true })
	res, body = get(t, c, origin+"/")
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, `data-preview-state="closed"`) || !strings.Contains(body, "Nothing listens on port "+strconv.Itoa(port)) {
		t.Errorf("nothing listening: %d\n%s", res.StatusCode, body)
	}
	// The platform cannot say where the sandbox is.
	e.platform.set(func(f *fakePlatform) { f.addrErr = errors.New("engine down") })
	res, body = get(t, c, origin+"/")
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, `data-preview-state="error"`) || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("no address: %d\n%s", res.StatusCode, body)
	}
}

// Someone at the page keeps the sandbox from stopping as idle; a page's
// background requests do not.
func TestPreviewTouches(t *testing.T) {
	e := newEnv(t)
	app := newSandboxApp(t)
	key := sandbox.Key{UserID: aliceID, Lab: "demo"}
	e.platform.set(func(f *fakePlatform) { f.running[key] = true })
	c := e.login(t, "alice")
	origin := openPreview(t, e, c, "lab=demo&port="+strconv.Itoa(app.port))
	for _, tc := range []struct {
		mode  string
		touch bool
	}{{"cors", false}, {"navigate", true}} {
		e.platform.set(func(f *fakePlatform) { f.touched = nil })
		req, _ := http.NewRequest("GET", origin+"/", nil)
		req.Header.Set("Sec-Fetch-Mode", tc.mode)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		e.platform.mu.Lock()
		touched := len(e.platform.touched) == 1 && e.platform.touched[0] == key
		e.platform.mu.Unlock()
		if res.StatusCode != 200 || touched != tc.touch {
			t.Errorf("Sec-Fetch-Mode %s: %d, touched %t, want 200, %t", tc.mode, res.StatusCode, touched, tc.touch)
		}
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

func TestValidDomain(t *testing.T) {
	for d, ok := range map[string]bool{
		"preview.localhost":        true,
		"preview.example.net:8443": true,
		"localhost":                false,
		"Preview.localhost":        false,
		"preview.localhost:0":      false,
		"preview..localhost":       false,
	} {
		if err := ValidDomain(d); (err == nil) != ok {
			t.Errorf("ValidDomain(%q) = %v, want ok %t", d, err, ok)
		}
	}
}
