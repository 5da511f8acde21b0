package tests

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"handson/internal/auth"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/testenv"
)

const (
	wpLab      = "wordpress" // labs/03-wordpress
	wpUsername = "wp-student"
	wpPassword = "wp-student-password-7e2d"
	wpSite     = "E2E Docker Blog"
)

// TestWordPressLabInBrowser walks lab 3 (labs/03-wordpress) as a student
// does, in a real Chromium, on a real sandbox whose Docker pulls mariadb
// and wordpress from the classroom registry: on each step it presses Check
// (which must fail), then the step's Run ▶ buttons, then Check until it
// passes; in the install step it follows the guide's web preview link to a
// new tab, finishes WordPress's install page there and logs in to
// WordPress, and the step's check then finds the site, whose address is
// the preview's.
func TestWordPressLabInBrowser(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)
	begun := time.Now()

	logs := &e2eBuffer{}
	a := startPlatform(t, t.TempDir(), logs)
	key := sandbox.Key{UserID: createStudent(t, a, wpUsername, wpPassword), Lab: wpLab}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.Engine.Remove(ctx, key); err != nil {
			t.Errorf("remove the sandbox: %v", err)
		}
	})
	// Previews live on subdomains of the platform's host name: the browser
	// uses localhost, as a student on the machine would.
	u, _ := url.Parse(a.Server.URL())
	platform := "http://localhost:" + u.Port()

	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(logs)
		}
	})
	login(b, platform+"/labs/"+wpLab, wpUsername, wpPassword)
	evalWait(b, "the lab page after login", 15*time.Second, `location.pathname === '/labs/`+wpLab+`' && document.getElementById('step-network') !== null`)
	b.waitFor("the prompt in the terminal", 120*time.Second, func(s pageState) bool {
		return s.Terminal == "ready" && s.screenContains("student@"+wpLab)
	})
	t.Logf("timing: login → prompt: %s", since(begun))

	w := wpWalker{b: b}

	// 1. The network.
	w.checkFails("network")
	w.run("network", 0)
	w.waitScreen("the network's id", 30*time.Second, func(s pageState) bool { return hexLines(s) >= 1 })
	w.run("network", 1)
	w.waitScreen("wordpress-net in docker network ls", 30*time.Second, func(s pageState) bool {
		return s.screenMatches(`^[0-9a-f]{12}\s+wordpress-net\s+bridge\s+local$`)
	})
	w.checkPasses("network", 10*time.Second)

	// 2. The database: the first docker run pulls mariadb from the registry.
	w.checkFails("database")
	started := time.Now()
	w.run("database", 0)
	w.waitScreen("the database container's id (mariadb pulled)", 5*time.Minute, func(s pageState) bool { return hexLines(s) >= 2 })
	t.Logf("timing: docker run mariadb (pull included) → container id: %s", since(started))
	w.run("database", 1) // docker logs db
	w.checkPasses("database", 90*time.Second)
	t.Logf("timing: docker run mariadb → database step passed: %s", since(started))

	// 3. WordPress: pulled too; curl -I until it redirects to install.php.
	w.checkFails("wordpress")
	started = time.Now()
	w.run("wordpress", 0)
	w.waitScreen("the WordPress container's id (wordpress pulled)", 5*time.Minute, func(s pageState) bool { return hexLines(s) >= 3 })
	t.Logf("timing: docker run wordpress (pull included) → container id: %s", since(started))
	w.runUntil("wordpress", 1, "curl -I showing the redirect to install.php", 90*time.Second, func(s pageState) bool {
		return s.screenMatches(`^Location: http://localhost:8080/wp-admin/install\.php$`)
	})
	w.checkPasses("wordpress", 30*time.Second)

	// 4. The install page, in the web preview, in a new tab. The front
	// matter's ports: [8080] also puts a preview link above the terminal.
	w.checkFails("install")
	bar := e2eRun(b, "the terminal bar's preview links", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('.terminal-bar form.preview a.preview-port')).map(a => a.textContent + ' ' + a.getAttribute('href'))`))
	if want := "8080 /preview/open?lab=" + wpLab + "&port=8080"; len(bar) != 1 || bar[0] != want {
		t.Errorf("the terminal bar's preview links are %q, want [%q]", bar, want)
	}
	link := `#step-install .body a[href^="/preview/open?"]`
	if got := e2eRun(b, "the preview link's target", chromedp.JavascriptAttribute[string](chromedp.CSS(link), "target")); got != "_blank" {
		t.Errorf("the guide's preview link has target=%q, want _blank (a new tab)", got)
	}
	href := e2eRun(b, "the preview link", chromedp.JavascriptAttribute[string](chromedp.CSS(link), "href"))
	if want := platform + "/preview/open?lab=" + wpLab + "&port=8080"; href != want {
		t.Errorf("the guide's preview link is %s, want %s", href, want)
	}
	opened := chromedp.WaitNewTarget(b.ctx, func(*target.Info) bool { return true })
	started = time.Now()
	b.do("click the preview link", chromedp.Click(chromedp.CSS(link)))
	var tabID target.ID
	select {
	case tabID = <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("the preview link opened no new tab within 20 s")
	}
	tabCtx, closeTab := chromedp.NewContext(b.ctx, chromedp.WithTargetID(tabID))
	defer closeTab()
	// Attach to the tab with no deadline: the context of the first action
	// on a tab is the tab's life.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("attach to the preview's tab: %v", err)
	}
	p := &e2eBrowser{t: t, ctx: tabCtx, out: b.out}
	defer func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(tabCtx, 5*time.Second)
			defer cancel()
			where, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.title + '\n' + (document.body ? document.body.innerText.slice(0, 2000) : '')`))
			t.Logf("the preview's tab at the failure: %s (%v)", where, err)
		}
	}()
	evalWait(p, "WordPress's install page in the preview", 60*time.Second,
		`/^8080-[a-z2-7]+\.preview\.localhost:`+u.Port()+`$/.test(location.host) && location.pathname === '/wp-admin/install.php' && document.getElementById('weblog_title') !== null`)
	origin := e2eRun(p, "the preview's origin", chromedp.Evaluate[string](`location.origin`))
	t.Logf("timing: preview link → install page at %s: %s", origin, since(started))
	// The form as a student fills it, keeping the password WordPress offers.
	// WordPress's script (wp-admin/js/user-profile.js, through the preview)
	// fills the password in and may move the focus: let it finish first.
	evalWait(p, "the password WordPress offers", 20*time.Second, `(document.getElementById('pass1') || {}).value !== ''`)
	adminPW := e2eRun(p, "the offered password", chromedp.Value(chromedp.CSS(`#pass1`)))
	if len(adminPW) < 12 {
		t.Fatalf("the install page offers the password %q: want a generated one", adminPW)
	}
	p.do("fill in the install page",
		chromedp.SendKeys(chromedp.CSS(`#weblog_title`), wpSite),
		chromedp.SendKeys(chromedp.CSS(`#user_login`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`#admin_email`), "student@example.com"),
	)
	for sel, want := range map[string]string{`#weblog_title`: wpSite, `#user_login`: "admin", `#admin_email`: "student@example.com", `#pass1`: adminPW} {
		if got := e2eRun(p, "read "+sel, chromedp.Value(chromedp.CSS(sel))); got != want {
			t.Fatalf("the install page's %s holds %q after typing, want %q", sel, got, want)
		}
	}
	evalWait(p, "Install WordPress enabled", 10*time.Second, `!document.getElementById('submit').disabled`)
	p.do("press Install WordPress", chromedp.Click(chromedp.CSS(`#submit`)))
	evalWait(p, "Success! after the install", 60*time.Second, `(document.querySelector('h1') || {}).textContent === 'Success!'`)
	t.Logf("timing: install page → Success!: %s", since(started))
	// Log in to WordPress: its cookies live on the preview's origin.
	p.do("follow Success!'s Log In link", chromedp.Click(chromedp.CSS(`a[href*="wp-login.php"]`)))
	// The login page focuses and selects the username field 200 ms after it
	// loads: typing before that would be partly replaced.
	evalWait(p, "WordPress's login form, focused", 30*time.Second,
		`location.pathname === '/wp-login.php' && document.getElementById('user_pass') !== null && (document.activeElement || {}).id === 'user_login'`)
	p.do("log in to WordPress",
		chromedp.SendKeys(chromedp.CSS(`#user_login`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`#user_pass`), adminPW),
	)
	if got := e2eRun(p, "read the username", chromedp.Value(chromedp.CSS(`#user_login`))); got != "admin" {
		t.Fatalf("WordPress's login form holds the username %q after typing admin", got)
	}
	p.do("press Log In", chromedp.Click(chromedp.CSS(`#wp-submit`)))
	evalWait(p, "WordPress's dashboard", 60*time.Second, `location.pathname.startsWith('/wp-admin') && document.getElementById('wpadminbar') !== null`)
	t.Logf("timing: preview link → logged in to WordPress's dashboard: %s", since(started))
	p.do("open the site's front page", chromedp.Navigate(origin+"/"))
	evalWait(p, "the front page with the site title", 30*time.Second, fmt.Sprintf(`document.title.includes(%q)`, wpSite))

	// Back on the lab's tab: the check sees the site, with the preview's address.
	st := w.checkPasses("install", 10*time.Second)
	if !strings.Contains(st.Message, wpSite) || !strings.Contains(st.Message, origin) {
		t.Errorf("the install check says %q: want the site %q at %s", st.Message, wpSite, origin)
	}

	// 5. Compose: remove the two containers, write the file, docker-compose up.
	w.checkFails("compose")
	w.run("compose", 0) // docker rm -f db wordpress
	w.waitScreen("the removed containers", 30*time.Second, func(s pageState) bool { return s.screenHasLine("db") && s.screenHasLine("wordpress") })
	w.run("compose", 1) // mkdir, cd, cat > docker-compose.yml <<'EOF' … EOF, cat
	w.waitScreen("the Compose file printed by cat", 30*time.Second, func(s pageState) bool {
		return s.screenHasLine("services:") && s.screenHasLine("WORDPRESS_DB_NAME: wordpress")
	})
	started = time.Now()
	w.run("compose", 2) // docker-compose up -d
	w.waitScreen("docker-compose up creating WordPress", 90*time.Second, func(s pageState) bool {
		return s.screenMatches(`^Creating wordpress-compose_wordpress_1 \.\.\. done$`)
	})
	w.runUntil("compose", 3, "docker-compose ps and curl -I showing the install page", 90*time.Second, func(s pageState) bool {
		return strings.Count(s.screen(), "Location: http://localhost:8080/wp-admin/install.php") >= 2
	})
	t.Logf("timing: docker-compose up → WordPress answers: %s", since(started))
	w.checkPasses("compose", 30*time.Second)

	b.do("reload the lab page", chromedp.Reload())
	evalWait(b, "all five steps passed after a reload", 15*time.Second,
		`document.querySelectorAll('section.step[data-status="passed"]').length === 5 && document.querySelector('.lab-progress .count').textContent === '5/5'`)
	t.Logf("timing: the whole lab as a student: %s", since(begun))
}

// createStudent adds a student account and returns its id.
func createStudent(t *testing.T, a *platform.Platform, username, password string) int64 {
	t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: username, DisplayName: username, PasswordHash: hash, Role: store.RoleStudent}
	if err := a.DB.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create the student: %v", err)
	}
	return u.ID
}

// wpWalker presses the buttons of one lab page's steps.
type wpWalker struct{ b *e2eBrowser }

// stepState is one step's check verdict on the page.
type stepState struct {
	Status  string `json:"status"`  // section.step[data-status]: stays passed once passed
	Busy    bool   `json:"busy"`    // a check is running
	Result  string `json:"result"`  // .check-result[data-result]: this Check's verdict
	Message string `json:"message"` // the verdict, without the checker's output
	Hint    string `json:"hint"`    // the first hint, once shown
}

const stepStateJS = `((id) => {
  const s = document.getElementById('step-' + id);
  const r = s && s.querySelector('.check-result');
  const h = s && s.querySelector('.hint:not([hidden])');
  return {
    status: s ? s.dataset.status || '' : '',
    busy: !!s && s.getAttribute('aria-busy') === 'true',
    result: r ? r.dataset.result || '' : '',
    message: r ? Array.from(r.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim() : '',
    hint: h ? h.textContent.trim() : '',
  };
})`

func (w wpWalker) step(id string) stepState {
	w.b.t.Helper()
	return e2eRun(w.b, "read step "+id, chromedp.Evaluate[stepState](fmt.Sprintf("%s(%q)", stepStateJS, id)))
}

// check presses the step's Check button once and returns its verdict.
func (w wpWalker) check(id string) stepState {
	w.b.t.Helper()
	// Forget the last verdict, so that the same message again is seen as new.
	e2eRun(w.b, "clear the verdict of "+id, chromedp.Evaluate[bool](
		`(() => { const r = document.querySelector('#step-`+id+` .check-result'); if (r) delete r.dataset.result; return true; })()`))
	w.b.do("press Check of "+id, chromedp.Click(chromedp.CSS(`#step-`+id+` button.check-button`)))
	// The first Check of a lab may start the student's Docker (on first
	// use) and the lab's setup: give it what a loaded machine takes.
	deadline := time.Now().Add(150 * time.Second)
	for {
		st := w.step(id)
		if !st.Busy && (st.Result == "passed" || st.Result == "failed" || st.Result == "error") {
			return st
		}
		if time.Now().After(deadline) {
			w.b.t.Fatalf("no verdict from Check of %s within 150 s; last: %+v", id, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkFails wants the step's check to fail with a reason; then it opens
// the first hint, as a stuck student does.
func (w wpWalker) checkFails(id string) {
	w.b.t.Helper()
	st := w.check(id)
	if st.Result != "failed" || st.Status != "failed" || st.Message == "" {
		w.b.t.Fatalf("Check of %s before its work: %+v, want failed with a reason", id, st)
	}
	w.b.do("show a hint of "+id, chromedp.Click(chromedp.CSS(`#step-`+id+` .hints .hint-button`), chromedp.NodeVisible))
	if st = w.step(id); st.Hint == "" {
		w.b.t.Fatalf("step %s: no hint shown after a failed check and a press of the hint button", id)
	}
	w.b.t.Logf("%s: the failing check says %q; first hint %q", id, st.Message, st.Hint)
}

// checkPasses presses Check until it passes, as a student does while a
// service starts, and fails the test after timeout.
func (w wpWalker) checkPasses(id string, timeout time.Duration) stepState {
	w.b.t.Helper()
	started := time.Now()
	for tries := 1; ; tries++ {
		st := w.check(id)
		if st.Result == "passed" && st.Status == "passed" {
			w.b.t.Logf("%s: passed after %d Check(s) in %s: %q", id, tries, since(started), st.Message)
			return st
		}
		if time.Since(started) > timeout {
			w.b.t.Fatalf("Check of %s still fails after %s: %+v", id, timeout, st)
		}
		w.b.t.Logf("%s: Check %d says %q; trying again", id, tries, st.Message)
		time.Sleep(3 * time.Second)
	}
}

// run presses the Run ▶ button of the step's n-th exec block.
func (w wpWalker) run(id string, n int) {
	w.b.t.Helper()
	sel := fmt.Sprintf(`document.querySelectorAll('#step-%s .codeblock[data-role="exec"]')[%d].querySelector('.run-button')`, id, n)
	w.b.do(fmt.Sprintf("press Run ▶ of %s block %d", id, n), chromedp.Click(chromedp.JSPath(sel)))
}

// runUntil presses a Run ▶ button again every few seconds until cond holds
// (a command like curl that answers only once the service is up).
func (w wpWalker) runUntil(id string, n int, what string, timeout time.Duration, cond func(pageState) bool) {
	w.b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.run(id, n)
		again := time.Now().Add(5 * time.Second)
		for time.Now().Before(again) {
			if s, err := w.b.state(w.b.ctx); err == nil && cond(s) {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			s, _ := w.b.state(w.b.ctx)
			w.b.t.Fatalf("waited %s for %s; the page: %s", timeout, what, s)
		}
	}
}

// waitScreen waits for cond on the terminal's screen; a Docker or shell
// error there ends the wait (and the test) at once.
func (w wpWalker) waitScreen(what string, timeout time.Duration, cond func(pageState) bool) {
	w.b.t.Helper()
	var broken string
	w.b.waitFor(what, timeout, func(s pageState) bool {
		for _, l := range s.Screen {
			if strings.Contains(l, "Error response from daemon") || strings.Contains(l, "command not found") {
				broken = l
				return true
			}
		}
		return cond(s)
	})
	if broken != "" {
		s, _ := w.b.state(w.b.ctx)
		w.b.t.Fatalf("while waiting for %s, the terminal shows an error: %q\n%s", what, broken, s)
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// hexLines counts the lines of the screen that are a Docker object's id.
func hexLines(s pageState) int {
	n := 0
	for _, l := range s.Screen {
		if hexID.MatchString(strings.TrimSpace(l)) {
			n++
		}
	}
	return n
}

// screenMatches reports whether a line of the screen (trimmed) matches re.
func (s pageState) screenMatches(re string) bool {
	r := regexp.MustCompile(re)
	for _, l := range s.Screen {
		if r.MatchString(strings.TrimSpace(l)) {
			return true
		}
	}
	return false
}
