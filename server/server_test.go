package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"handson/content"
	"handson/internal/i18n"
	"handson/internal/labrun"
	"handson/internal/sandbox"
	"handson/internal/sandbox/sandboxtest"
	"handson/internal/store"
	"handson/internal/terminal"
)

const testLab = "---\nid: demo\ntitle: Demo\n---\nIntro.\n\n## Make a file {#touch}\n\n```bash exec\ntouch /tmp/x\n```\n\n```check\ntest -e /tmp/x || fail \"no file\"\n```\n\n```hint\nTry `touch`.\n```\n\n```solve\ntouch /tmp/x\n```\n"

type env struct {
	srv  *Server
	fake *sandboxtest.Fake
	db   *store.DB
	url  string
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith lets setup change the server before it opens.
func newEnvWith(t *testing.T, setup func(*Server)) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	course, err := content.Load(fstest.MapFS{"demo/lab.md": {Data: []byte(testLab)}})
	if err != nil {
		t.Fatal(err)
	}
	fake := &sandboxtest.Fake{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sandboxes := sandbox.NewManager(fake, db, sandbox.DefaultPolicy(), log)
	srv := &Server{
		Store: db, Course: course, Sandboxes: sandboxes,
		Labs: &labrun.Runner{Exec: sandboxes, Base: sandbox.Spec{Image: "img"}},
		Log:  log,
	}
	if setup != nil {
		setup(srv)
	}
	if err := srv.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	for _, name := range []string{"alice", "bob"} {
		hash := testHash(name + "-password")
		if err := db.CreateUser(context.Background(), &store.User{Username: name, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{srv: srv, fake: fake, db: db, url: srv.URL()}
}

// client does not follow redirects, so tests see them.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) login(t *testing.T, name string) *http.Client {
	t.Helper()
	c := client()
	res, err := c.PostForm(e.url+"/login", url.Values{"username": {name}, "password": {name + "-password"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d", name, res.StatusCode)
	}
	return c
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

func TestLogin(t *testing.T) {
	e := newEnv(t)
	c := client()

	res, _ := get(t, c, e.url+"/labs/demo")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Flabs%2Fdemo" {
		t.Fatalf("anonymous lab page: %d → %q, want redirect to login", res.StatusCode, res.Header.Get("Location"))
	}

	// Unknown user and wrong password get the same answer.
	var bodies []string
	for _, form := range []url.Values{
		{"username": {"alice"}, "password": {"wrong-password"}},
		{"username": {"mallory"}, "password": {"wrong-password"}},
	} {
		res, err := c.PostForm(e.url+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
			t.Errorf("bad login %v: status %d, cookies %v", form, res.StatusCode, res.Cookies())
		}
		bodies = append(bodies, strings.ReplaceAll(string(b), form.Get("username"), "NAME"))
	}
	if bodies[0] != bodies[1] {
		t.Error("unknown user and wrong password answer differently")
	}

	res, err := c.PostForm(e.url+"/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"/labs/demo"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/labs/demo" {
		t.Fatalf("login: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	ck := res.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %+v: want HttpOnly and SameSite=Lax", ck)
	}
	if res, body := get(t, c, e.url+"/labs/demo"); res.StatusCode != 200 || !strings.Contains(body, `data-step="touch"`) {
		t.Errorf("lab page after login: %d", res.StatusCode)
	}

	// Logout revokes the session on the server: the old cookie is dead.
	req, _ := http.NewRequest("POST", e.url+"/logout", nil)
	if res, err := c.Do(req); err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", res, err)
	}
	stolen := client()
	u, _ := url.Parse(e.url)
	stolen.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
	if res, _ := get(t, stolen, e.url+"/labs"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("revoked cookie still works: %d", res.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/labs/x?a=1":           "/labs/x?a=1",
		"":                      "/",
		"https://evil.example/": "/",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"javascript:alert(1)":   "/",
		"labs":                  "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func post(t *testing.T, c *http.Client, u string, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res, body
}

func TestCheckRecordsAttempts(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	checkURL := e.url + "/api/labs/demo/steps/touch/check"

	e.fake.Answer = func(sandbox.Command) (*sandbox.Result, error) {
		return &sandbox.Result{ExitCode: 1, Output: []byte("no file\n")}, nil
	}
	res, body := post(t, c, checkURL, nil)
	if res.StatusCode != 200 || body["passed"] != false || body["message"] != "no file" {
		t.Fatalf("failing check: %d %v", res.StatusCode, body)
	}
	if _, page := get(t, c, e.url+"/labs/demo"); !strings.Contains(page, `<div class="hints">`) || !strings.Contains(page, `<progress value="0" max="1">`) {
		t.Error("after a failed check the lab page does not offer the hint, or shows the wrong progress")
	}
	e.fake.Answer = nil // exit 0
	res, body = post(t, c, checkURL, nil)
	if res.StatusCode != 200 || body["passed"] != true {
		t.Fatalf("passing check: %d %v", res.StatusCode, body)
	}
	if ensured, _, _, _ := e.fake.Calls(); ensured[0].Lab != "demo" || ensured[0].UserID != 1 {
		t.Errorf("sandbox key = %+v, want alice's demo sandbox", ensured[0])
	}

	// Progress survives a reload (it is in SQLite) and is alice's alone.
	if _, page := get(t, c, e.url+"/labs/demo"); !strings.Contains(page, `data-status="passed"`) || !strings.Contains(page, `<progress value="1" max="1">`) {
		t.Error("lab page does not show the passed step")
	}
	if _, page := get(t, e.login(t, "bob"), e.url+"/labs/demo"); !strings.Contains(page, `data-status="none"`) {
		t.Error("bob sees alice's progress")
	}

	for path, want := range map[string]int{
		"/api/labs/demo/steps/nope/check":  404,
		"/api/labs/nope/steps/touch/check": 404,
	} {
		if res, _ := post(t, c, e.url+path, nil); res.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
		}
	}
	if res, body := post(t, client(), checkURL, nil); res.StatusCode != 401 || body["error"] == "" {
		t.Errorf("anonymous check: %d %v, want 401 with a JSON error", res.StatusCode, body)
	}
}

// A cross-site page cannot make a logged-in student's browser press Check
// or log out.
func TestCrossOriginRequestsRefused(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		for _, path := range []string{"/api/labs/demo/steps/touch/check", "/logout"} {
			if res, _ := post(t, c, e.url+path, h); res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %v: %d, want 403", path, h, res.StatusCode)
			}
		}
	}
	if len(e.fake.Commands) != 0 {
		t.Error("a refused request still ran a check")
	}
	if res, _ := post(t, c, e.url+"/api/labs/demo/steps/touch/check", http.Header{"Sec-Fetch-Site": {"same-origin"}}); res.StatusCode != 200 {
		t.Errorf("same-origin check: %d", res.StatusCode)
	}
}

func dialTerminal(t *testing.T, e *env, c *http.Client, origin string) (*websocket.Conn, *http.Response, error) {
	u, _ := url.Parse(e.url)
	wsURL := "ws://" + u.Host + "/api/labs/demo/terminal"
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return websocket.DefaultDialer.Dial(wsURL, h)
}

func TestTerminalOrigin(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	for _, origin := range []string{"", "https://evil.example", "http://127.0.0.1.evil.example"} {
		ws, res, err := dialTerminal(t, e, c, origin)
		if err == nil {
			ws.Close()
			t.Errorf("origin %q: websocket accepted", origin)
			continue
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", origin, err)
		}
	}
	if _, res, err := dialTerminal(t, e, client(), e.url); err == nil || res.StatusCode != 401 {
		t.Errorf("anonymous terminal: %v, want 401", err)
	}
}

func TestTerminalShell(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	ws, _, err := dialTerminal(t, e, c, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.BinaryMessage, terminal.EncodeSize(100, 30))
	ws.WriteMessage(websocket.BinaryMessage, terminal.Encode(terminal.Input, []byte("stty size; echo tok$((40+2))\n")))

	var out strings.Builder
	var states []string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "tok42") {
		ws.SetReadDeadline(deadline)
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v; output so far %q", err, out.String())
		}
		typ, p, _ := terminal.Decode(msg)
		switch typ {
		case terminal.Output:
			out.Write(p)
		case terminal.Status:
			var st struct{ State string }
			json.Unmarshal(p, &st)
			states = append(states, st.State)
		}
	}
	if !strings.Contains(out.String(), "30 100") {
		t.Errorf("shell did not get the browser's size: %q", out.String())
	}
	if len(states) == 0 || states[0] != "starting" || states[len(states)-1] != "ready" {
		t.Errorf("status frames = %v, want starting… then ready", states)
	}
}

// Closing the server ends open terminals instead of leaving their shells
// running against a closed store.
func TestCloseEndsTerminals(t *testing.T) {
	e := newEnv(t)
	ws, _, err := dialTerminal(t, e, e.login(t, "alice"), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.BinaryMessage, terminal.EncodeSize(80, 24))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for { // until the shell is up
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ, _, _ := terminal.Decode(msg); typ == terminal.Output {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v (terminals still open)", err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("websocket still open after Close")
			}
			break
		}
	}
}

func TestEventsAndReset(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	req, _ := http.NewRequest("GET", e.url+"/api/labs/demo/events", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 32)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- line
			}
		}
		close(events)
	}()
	want := func(substr string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %q", substr)
				}
				if strings.Contains(ev, substr) {
					return
				}
			case <-timeout:
				t.Fatalf("no event with %q", substr)
			}
		}
	}
	want(`"kind":"state","message":"missing"`)
	post(t, c, e.url+"/api/labs/demo/steps/touch/check", nil) // starts the sandbox
	want(`"phase":"creating"`)
	want(`"phase":"ready"`)

	if res, body := post(t, c, e.url+"/api/labs/demo/reset", nil); res.StatusCode != 200 {
		t.Fatalf("reset: %d %v", res.StatusCode, body)
	}
	want(`"kind":"removed"`)
	if _, _, _, removed := e.fake.Calls(); len(removed) != 1 || removed[0].UserID != 1 {
		t.Errorf("removed = %v, want alice's sandbox", removed)
	}
	// Bob's page hears nothing of alice's sandbox, and he cannot reset hers:
	// his reset is of his own (absent) sandbox.
	if res, _ := post(t, e.login(t, "bob"), e.url+"/api/labs/demo/reset", nil); res.StatusCode != 200 {
		t.Errorf("bob's reset: %d", res.StatusCode)
	}
	if _, _, _, removed := e.fake.Calls(); removed[len(removed)-1].UserID != 2 {
		t.Errorf("bob's reset removed %v", removed[len(removed)-1])
	}
	if res, _ := post(t, c, e.url+"/api/labs/demo/reset", http.Header{"Sec-Fetch-Site": {"cross-site"}}); res.StatusCode != 403 {
		t.Errorf("cross-site reset: %d, want 403", res.StatusCode)
	}
}

// TestCheckWaitsInLine: a Check whose sandbox must start while the only
// start slot is taken waits in line and then passes (it was a 503 "busy").
func TestCheckWaitsInLine(t *testing.T) {
	e := newEnv(t)
	p := sandbox.DefaultPolicy()
	p.MaxStarts = 1
	e.srv.Sandboxes = sandbox.NewManager(e.fake, e.db, p, e.srv.Log)
	// Bob's start holds the slot until his new sandbox is prepared.
	hold := make(chan struct{})
	e.srv.Sandboxes.Prepare = func(context.Context, *sandbox.Sandbox) error { <-hold; return nil }
	if _, _, err := e.srv.Sandboxes.Start(context.Background(), sandbox.Key{UserID: 2, Lab: "demo"}, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "alice")
	type answer struct {
		code int
		body map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		res, body := post(t, c, e.url+"/api/labs/demo/steps/touch/check", nil)
		done <- answer{res.StatusCode, body}
	}()
	for _, w, _ := e.srv.Sandboxes.StartLoad(); w == 0; _, w, _ = e.srv.Sandboxes.StartLoad() {
		time.Sleep(time.Millisecond)
	}
	select {
	case a := <-done:
		t.Fatalf("the check answered %d %v while in line", a.code, a.body)
	default:
	}
	close(hold)
	if a := <-done; a.code != http.StatusOK {
		t.Fatalf("check after waiting in line: %d %v", a.code, a.body)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	// No refill during the test, however slow bcrypt is (-race).
	e.srv.loginsByUser = newLimiter(time.Hour, 10)
	c := client()
	try := func(user, pw string) int {
		res, err := c.PostForm(e.url+"/login", url.Values{"username": {user}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 10 {
		if code := try("alice", "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, code)
		}
	}
	// Throttled now, even with the right password.
	if code := try("alice", "alice-password"); code != http.StatusTooManyRequests {
		t.Errorf("11th attempt: %d, want 429", code)
	}
	// An unknown user is throttled alike: the answer tells nothing about
	// which accounts exist.
	for range 10 {
		try("nobody", "whatever-pw")
	}
	if code := try("nobody", "whatever-pw"); code != http.StatusTooManyRequests {
		t.Errorf("unknown user: %d, want 429 like a known one", code)
	}
	if code := try("bob", "bob-password"); code != http.StatusSeeOther {
		t.Errorf("bob from the same address: %d, want his login to work", code)
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t)
	page := func(c *http.Client, acceptLang string) string {
		req, _ := http.NewRequest("GET", e.url+"/login", nil)
		req.Header.Set("Accept-Language", acceptLang)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	c := client()
	if body := page(c, "ja-JP,ja;q=0.9,en;q=0.8"); !strings.Contains(body, "<h1>ログイン</h1>") || !strings.Contains(body, `data-ui-lang="ja"`) {
		t.Error("a Japanese browser does not get a Japanese page")
	}
	if body := page(c, "en-US"); !strings.Contains(body, "<h1>Log in</h1>") {
		t.Error("an English browser does not get an English page")
	}
	// A choice beats the browser: in a cookie before login, on the account after.
	if res, _ := postForm(t, c, e.url+"/lang", url.Values{"lang": {"ja"}, "next": {"/login"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch: %d", res.StatusCode)
	}
	if body := page(c, "en-US"); !strings.Contains(body, "<h1>ログイン</h1>") {
		t.Error("the chosen language did not stick")
	}
	alice := e.login(t, "alice")
	postForm(t, alice, e.url+"/lang", url.Values{"lang": {"ja"}})
	u, _ := e.db.UserByUsername(context.Background(), "alice")
	if u.Lang != "ja" {
		t.Errorf("alice's language = %q, want ja kept on her account", u.Lang)
	}
	// The lab follows: the demo has only one language, which is kept.
	req, _ := http.NewRequest("GET", e.url+"/labs/demo", nil)
	res, err := alice.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("lab page: %v %v", res, err)
	}
	res.Body.Close()
}

// The sandbox's news reaches a Japanese student in Japanese.
func TestEventsInStudentsLanguage(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	req, _ := http.NewRequest("GET", e.url+"/api/labs/demo/events", nil)
	req.Header.Set("Accept-Language", "ja,en;q=0.5")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got := make(chan string, 32)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	post(t, c, e.url+"/api/labs/demo/steps/touch/check", nil)
	if res, body := post(t, c, e.url+"/api/labs/demo/reset", nil); res.StatusCode != 200 {
		t.Fatalf("reset: %d %v", res.StatusCode, body)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line, ok := <-got:
			if !ok {
				t.Fatal("stream ended before the reset's news")
			}
			if strings.Contains(line, `"kind":"removed"`) {
				if !strings.Contains(line, "サンドボックスをリセットしました") {
					t.Errorf("reset news not in Japanese: %s", line)
				}
				return
			}
		case <-timeout:
			t.Fatal("no reset news")
		}
	}
}

func TestEventText(t *testing.T) {
	idle := sandbox.Event{Kind: sandbox.KindStopped, Code: "idle", Args: []string{(30 * time.Minute).String()}, Message: "english"}
	if got := eventText("ja", idle); !strings.Contains(got, "30分の間、操作がなかった") {
		t.Errorf("ja idle: %q", got)
	}
	if got := eventText("en", idle); !strings.Contains(got, "after 30 minutes without activity") {
		t.Errorf("en idle: %q", got)
	}
	maxAge := sandbox.Event{Code: "maxage", Args: []string{(30 * 24 * time.Hour).String()}}
	if got := eventText("ja", maxAge); !strings.Contains(got, "(30日)") {
		t.Errorf("ja max age: %q", got)
	}
	if got, want := i18n.Duration("en", time.Hour), "1 hour"; got != want {
		t.Errorf("en one hour: %q, want %q", got, want)
	}
	if got, want := i18n.Duration("ja", 90*time.Minute), "90分"; got != want {
		t.Errorf("ja 90 minutes: %q, want %q", got, want)
	}
	if got := eventText("ja", sandbox.Event{Code: "unknown", Message: "as sent"}); got != "as sent" {
		t.Errorf("unknown code: %q, want the event's own message", got)
	}
	queued := sandbox.Event{Kind: sandbox.KindQueued, Code: "queued", Args: []string{"3", "12"}}
	if got := eventText("ja", queued); !strings.Contains(got, "3 番目") || !strings.Contains(got, "約 12 秒") {
		t.Errorf("ja place in line: %q", got)
	}
	// Every code the manager sends has both languages.
	for _, code := range []string{"queued", "reset", "maxage", "idle", "disk", "recovered.stopped", "recovered.oom", "recovered.hung", "recovered.pids"} {
		if !i18n.Has("sandbox." + code) {
			t.Errorf("sandbox.%s lacks a text", code)
		}
	}
}

// The favicon is served, so that no page asks for something that is not
// there (a browser asks /favicon.ico of every site).
func TestFavicon(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ path, contentType, starts string }{
		{"/favicon.ico", "image/x-icon", "\x00\x00\x01\x00"},
		{"/favicon.svg", "image/svg+xml", "<svg "},
	} {
		res, body := get(t, client(), e.url+tc.path)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != tc.contentType || !strings.HasPrefix(body, tc.starts) {
			t.Errorf("GET %s: %d %q, body %.20q", tc.path, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
	_, page := get(t, client(), e.url+"/login")
	for _, link := range []string{`<link rel="icon" href="/favicon.ico" sizes="32x32">`, `<link rel="icon" href="/favicon.svg" type="image/svg+xml">`} {
		if !strings.Contains(page, link) {
			t.Errorf("the login page lacks %s", link)
		}
	}
}

// Errors are said in the user's chosen language, from the pages and the
// API alike, whatever the browser's Accept-Language: the error adapter
// knows the user that authed found.
func TestErrorsInUsersLanguage(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	alice, err := e.db.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetLang(context.Background(), alice.ID, "ja"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.url+"/api/labs/demo/steps/nope/check", nil)
	req.Header.Set("Accept-Language", "en-US,en")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "このステップにはチェックがありません。") {
		t.Errorf("API error for a Japanese user: %d %s", res.StatusCode, b)
	}
	req, _ = http.NewRequest("GET", e.url+"/labs/nope", nil)
	req.Header.Set("Accept-Language", "en-US,en")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "その演習はありません。") {
		t.Errorf("page error for a Japanese user: %d %s", res.StatusCode, b)
	}
}

// The status page says how many sandboxes start and wait, and how many
// more fit in memory.
func TestStatusPageShowsRoom(t *testing.T) {
	e := newEnv(t)
	if err := e.db.CreateUser(context.Background(), &store.User{Username: "root", PasswordHash: testHash("root-password"), Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	p := sandbox.DefaultPolicy()
	e.fake.SetMemory(sandbox.Capacity{Available: p.MemReserve + 5*(300<<20) + 1, PerSandbox: 300 << 20, Running: 3})
	c := e.login(t, "root")
	res, body := get(t, c, e.url+"/admin/status")
	if res.StatusCode != 200 {
		t.Fatalf("status page: %d", res.StatusCode)
	}
	for _, want := range []string{"waiting in line: 0", "Memory for about 5 more sandboxes (each counted at 300 MiB"} {
		if !strings.Contains(body, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}
