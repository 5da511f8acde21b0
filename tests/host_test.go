package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"handson/internal/config"
	"handson/internal/preflight"
	"handson/internal/testenv"
)

// TestHostNotReady starts the platform on a host that fails a real
// precondition (its sandbox image is not built) and walks it as people
// would meet it: a Japanese student gets the honest page instead of a
// terminal, and the Check's 503 in Japanese; an admin sees the banner and
// the failed checks with their fixes on the status page.
func TestHostNotReady(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)
	logs := &e2eBuffer{}
	a := startPlatformWith(t, t.TempDir(), logs, func(c *config.Config) { c.Image = "handson/no-such-sandbox:test" })
	select {
	case <-a.Host.First():
	case <-time.After(2 * time.Minute):
		t.Fatalf("no host report after 2 minutes; log:\n%s", logs)
	}
	rep := a.Host.Report()
	if rep.Ready() {
		t.Fatalf("the host passed its checks without its sandbox image:\n%s", reportText(rep))
	}
	failed := map[string]preflight.Check{}
	for _, c := range rep.Failed() {
		failed[c.ID] = c
	}
	if c, ok := failed["images"]; !ok || !strings.Contains(strings.Join(anyStrings(c.Args), " "), "handson/no-such-sandbox:test") || c.Fix != "preflight.images.fix" {
		t.Errorf("images check: %+v, want failed, naming the image, with the build fix", c)
	}
	if _, ok := failed["canary"]; !ok {
		t.Errorf("the canary did not fail without a sandbox image:\n%s", reportText(rep))
	}
	if !strings.Contains(logs.String(), "the lab machines are not ready") {
		t.Errorf("the log does not say the lab machines are not ready:\n%s", logs)
	}

	student := e2eCreateStudent(t, a)
	if err := a.DB.SetLang(context.Background(), student, "ja"); err != nil {
		t.Fatal(err)
	}
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(logs)
		}
	})
	login(b, a.Server.URL()+"/labs/"+e2eLab, e2eUsername, e2ePassword)
	var page struct {
		Notice, Title   string
		Terminal, Check bool
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		page = e2eRun(b, "read the lab page", chromedp.Evaluate[struct {
			Notice, Title   string
			Terminal, Check bool
		}](`({
			notice: document.querySelector('.host-notice')?.textContent.trim() ?? '',
			title: document.querySelector('.host-notice h2')?.textContent ?? '',
			terminal: !!document.getElementById('terminal') || !!window.handson,
			check: !!document.querySelector('#step-`+e2eStep+` button.check-button'),
		})`))
		if page.Title != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if page.Title != "演習用のマシンの準備ができていません" || !strings.Contains(page.Notice, "担当の先生には通知されています") {
		t.Errorf("the student's lab page: notice %q, want the Japanese 'not ready' notice", page.Notice)
	}
	if page.Terminal {
		t.Error("the lab page has a terminal although no sandbox can start")
	}
	if !page.Check {
		t.Fatal("the guide lost its Check buttons")
	}
	// Check answers 503 with the same news, in the student's language. (A
	// click by script: the page may still be settling on a loaded machine,
	// and a node id taken before would be stale.)
	evalWait(b, "the page loaded", 10*time.Second, `document.readyState === 'complete'`)
	e2eRun(b, "press Check", chromedp.Evaluate[bool](`(document.querySelector('#step-`+e2eStep+` button.check-button').click(), true)`))
	st := b.waitFor("the check's verdict", 30*time.Second, func(s pageState) bool {
		return !s.Step.Busy && s.Step.Result != "" && s.Step.Result != "checking"
	})
	if !strings.Contains(st.Step.Message, "演習用のマシン") && !strings.Contains(st.Step.Message, "サンドボックスを起動できません") {
		t.Errorf("the Check says %q, want the Japanese 'not ready' message", st.Step.Message)
	}

	// The admin: a banner on every page, and the status page with fixes.
	b.do("log out", chromedp.Click(chromedp.CSS(`form.logout button`)))
	evalWait(b, "the page after logout", 10*time.Second, `location.pathname !== '/labs/`+e2eLab+`' && document.readyState === 'complete'`)
	login(b, a.Server.URL()+"/labs", "admin", testAdminPassword)
	evalWait(b, "the labs page", 10*time.Second, `location.pathname === '/labs' && document.readyState === 'complete'`)
	banner := e2eRun(b, "read the banner", chromedp.Evaluate[string](`document.querySelector('.host-banner')?.textContent ?? ''`))
	if !strings.Contains(banner, "The lab machines are not ready") {
		t.Errorf("admin's banner: %q, want 'The lab machines are not ready'", banner)
	}
	if href := e2eRun(b, "read the banner's link", chromedp.Evaluate[string](`document.querySelector('.host-banner a')?.getAttribute('href') ?? ''`)); href != "/admin/status" {
		t.Errorf("the banner links to %q, want /admin/status", href)
	}
	b.do("open the status page", chromedp.Navigate(a.Server.URL()+"/admin/status"))
	var rows []struct{ ID, Status, Found, Fix string }
	deadline = time.Now().Add(10 * time.Second)
	for len(rows) == 0 && time.Now().Before(deadline) {
		rows = e2eRun(b, "read the checks", chromedp.Evaluate[[]struct{ ID, Status, Found, Fix string }](`Array.from(document.querySelectorAll('tr.check-row')).map(r => ({
			id: r.dataset.check, status: r.dataset.status,
			found: r.querySelector('.found')?.textContent ?? '', fix: r.querySelector('.fix')?.textContent ?? ''}))`))
		time.Sleep(200 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.ID] = true
		if r.ID == "images" && (r.Status != "fail" || !strings.Contains(r.Found, "handson/no-such-sandbox:test") || !strings.Contains(r.Fix, "scripts/build-images.sh")) {
			t.Errorf("status page, images: %+v", r)
		}
		if r.ID == "docker" && r.Status != "ok" {
			t.Errorf("status page, docker: %+v", r)
		}
	}
	for _, id := range []string{"docker", "userns", "devices", "seccomp", "images", "firewall", "registry", "disk", "memory", "canary"} {
		if !seen[id] {
			t.Errorf("the status page lacks the %s check (rows: %+v)", id, rows)
		}
	}

	// In English too, through the API: a 503 that says the same.
	c := sessionClient(t, a.Server.URL(), e2eUsername, e2ePassword)
	if err := a.DB.SetLang(context.Background(), student, "en"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", a.Server.URL()+"/api/labs/"+e2eLab+"/steps/"+e2eStep+"/check", nil)
	req.Header.Set("Origin", a.Server.URL())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct{ Error string }
	json.Unmarshal(body, &answer)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(answer.Error, "Sandboxes cannot start on this server right now") {
		t.Errorf("check API: %d %s, want 503 saying sandboxes cannot start", resp.StatusCode, body)
	}
}

func anyStrings(args []any) []string {
	var out []string
	for _, a := range args {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func reportText(rep *preflight.Report) string {
	var b strings.Builder
	rep.Print(&b, "en")
	return b.String()
}

// sessionClient is an HTTP client logged in as username.
func sessionClient(t *testing.T, base, username, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"username": {username}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s: %s", username, resp.Status)
	}
	return c
}
