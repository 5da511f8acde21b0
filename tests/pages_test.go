package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"handson/internal/auth"
	"handson/internal/labrun"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/sandbox/sandboxtest"
	"handson/internal/store"
	"handson/internal/testenv"
	"handson/server"
)

// fakePlatform is the server with the built-in course, a fresh database and
// a fake sandbox engine (a shell is a local /bin/sh): for browser tests of
// the pages, which need neither Docker nor a sandbox image.
type fakePlatform struct {
	t         *testing.T
	srv       *server.Server
	db        *store.DB
	fake      *sandboxtest.Fake
	sandboxes *sandbox.Manager
	logs      *e2eBuffer
}

func startFakePlatform(t *testing.T) *fakePlatform {
	t.Helper()
	return startFakePlatformWith(t, sandbox.DefaultPolicy())
}

func startFakePlatformWith(t *testing.T, policy sandbox.Policy) *fakePlatform {
	t.Helper()
	course, err := platform.LoadCourse("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "handson.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &e2eBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	fake := &sandboxtest.Fake{}
	sandboxes := sandbox.NewManager(fake, db, policy, logger)
	srv := &server.Server{
		Store:         db,
		Course:        course,
		Sandboxes:     sandboxes,
		Labs:          &labrun.Runner{Exec: sandboxes, Base: sandbox.Spec{Image: "fake"}},
		Log:           logger,
		PreviewDomain: "preview.localhost", // the terminal bar shows its Preview form
	}
	if err := srv.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return &fakePlatform{t: t, srv: srv, db: db, fake: fake, sandboxes: sandboxes, logs: logs}
}

// student creates a student who uses the UI in lang.
func (p *fakePlatform) student(name, password, lang string) int64 {
	p.t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		p.t.Fatal(err)
	}
	u := &store.User{Username: name, DisplayName: name, PasswordHash: hash, Role: store.RoleStudent}
	ctx := context.Background()
	if err := p.db.CreateUser(ctx, u); err != nil {
		p.t.Fatal(err)
	}
	if err := p.db.SetLang(ctx, u.ID, lang); err != nil {
		p.t.Fatal(err)
	}
	return u.ID
}

// pageProblems collects what no page may show: console errors, uncaught
// exceptions, and responses with a status of 400 or more.
type pageProblems struct {
	mu    sync.Mutex
	list  []string
	icons []string // the favicon's answers: "200 /favicon.svg"
}

// watchProblems starts collecting b's page problems.
func watchProblems(b *e2eBrowser) *pageProblems {
	b.t.Helper()
	p := &pageProblems{}
	// Listen calls back in order, before a later command returns: what the
	// page did before an evaluation is in the list after it.
	err := chromedp.Listen(b.ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				p.add("console.%s: %s", ev.Type, remoteText(ev.Args))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			p.add("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p.add("browser log, %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventResponseReceived:
			if u, err := url.Parse(ev.Response.URL); err == nil && strings.HasPrefix(u.Path, "/favicon.") {
				p.mu.Lock()
				p.icons = append(p.icons, fmt.Sprintf("%d %s", ev.Response.Status, u.Path))
				p.mu.Unlock()
			}
			if ev.Response.Status >= 400 {
				p.add("HTTP %d for %s (%s)", ev.Response.Status, ev.Response.URL, ev.Type)
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				p.add("loading failed (%s): %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)
			}
		}
	})
	if err != nil {
		b.t.Fatalf("listen to the page: %v", err)
	}
	return p
}

func (p *pageProblems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// take returns the problems seen so far and forgets them.
func (p *pageProblems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

func remoteText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// settle waits until the page has loaded and a moment more: the favicon
// and late console messages come after the load event.
func settle(b *e2eBrowser) {
	b.t.Helper()
	waitJS(b.t, b, "the page loaded", `document.readyState === 'complete'`, 10*time.Second)
	time.Sleep(time.Second)
	e2eRun(b, "sync with the page", chromedp.Evaluate[bool](`true`))
}

// TestLoginPagesBrowser opens /register and /login in Chromium: no console
// error, no failed request (the favicon included), and the browser checks
// the username field with the server's rule.
func TestLoginPagesBrowser(t *testing.T) {
	chromium := testenv.Chromium(t)
	p := startFakePlatform(t)
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(p.logs)
		}
	})
	problems := watchProblems(b)
	for _, path := range []string{"/register", "/login"} {
		b.do("open "+path, chromedp.Navigate(p.srv.URL()+path))
		settle(b)
		if path == "/register" {
			// A user types a name; the browser checks it against the
			// pattern (compiled with the v flag: an invalid pattern is an
			// error in the console and no check at all).
			b.do("type a username", chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "a b"))
			for value, mismatch := range map[string]bool{
				"a b": true, "ab": true, "a/b": true, "yamada太郎": true,
				"abc_1": false, "a.b-c": false, "-ab": false, "20s1001": false,
			} {
				got := e2eRun(b, "check "+value, chromedp.Evaluate[bool](fmt.Sprintf(
					`(() => { const i = document.querySelector('input[name=username]'); i.value = %q; return i.validity.patternMismatch; })()`, value)))
				if got != mismatch {
					t.Errorf("the browser's patternMismatch for %q: %t, want %t", value, got, mismatch)
				}
			}
		}
		e2eRun(b, "sync with the page", chromedp.Evaluate[bool](`true`))
		if l := problems.take(); len(l) > 0 {
			t.Errorf("%s: %d problems:\n%s", path, len(l), strings.Join(l, "\n"))
		}
	}
	// Chromium asked for the page's icon (once: then it has it cached).
	problems.mu.Lock()
	icons := problems.icons
	problems.mu.Unlock()
	if !slices.Contains(icons, "200 /favicon.svg") {
		t.Errorf("the favicon's answers: %q, want 200 /favicon.svg", icons)
	}
}

// barLab has a Preview form with two port links: the widest terminal bar.
const barLab = "build-image"

// barLayout is the lab page's terminal bar as the browser laid it out.
type barLayout struct {
	State        string  `json:"state"` // .terminal-status[data-state]
	Text         string  `json:"text"`  // and its text
	ScrollWidth  float64 `json:"scrollWidth"`
	ClientWidth  float64 `json:"clientWidth"`
	ScrollHeight float64 `json:"scrollHeight"`
	ClientHeight float64 `json:"clientHeight"`
	Status       barBox  `json:"status"`
	Content      barBox  `json:"content"` // the status's text and button
	Pane         barBox  `json:"pane"`    // .terminal-pane
	// Lines of text in each button of the bar, by its text: a squeezed
	// button breaks its word over several.
	ButtonLines map[string]int     `json:"buttonLines"`
	Others      map[string]*barBox `json:"others"` // the bar's other parts, by selector; nil: absent
}

type barBox struct{ Left, Top, Right, Bottom float64 }

func (b barBox) String() string {
	return fmt.Sprintf("(%.0f,%.0f)-(%.0f,%.0f)", b.Left, b.Top, b.Right, b.Bottom)
}

// overlaps reports whether two boxes share an area (touching edges do not).
func (b barBox) overlaps(o barBox) bool {
	const eps = 0.5 // subpixel layout
	return b.Left < o.Right-eps && o.Left < b.Right-eps && b.Top < o.Bottom-eps && o.Top < b.Bottom-eps
}

func (b barBox) inside(o barBox) bool {
	const eps = 0.5
	return b.Left >= o.Left-eps && b.Right <= o.Right+eps && b.Top >= o.Top-eps && b.Bottom <= o.Bottom+eps
}

// barSelectors are the parts of the bar the status must leave alone.
var barSelectors = []string{".terminal-tabs", ".terminal-tools", ".terminal-badges", ".preview-label", "form.preview", ".sandbox-reset"}

const barLayoutJS = `((selectors) => {
  const box = (r) => ({Left: r.left, Top: r.top, Right: r.right, Bottom: r.bottom});
  const status = document.querySelector('.terminal-status');
  const range = document.createRange();
  range.selectNodeContents(status);
  const others = {};
  for (const s of selectors) {
    const e = document.querySelector('.terminal-bar ' + s);
    // An empty part (no badge shown) has no box to run into.
    others[s] = e && e.getClientRects().length && e.getBoundingClientRect().width > 0 ? box(e.getBoundingClientRect()) : null;
  }
  return {
    state: status.dataset.state || '', text: status.textContent,
    scrollWidth: status.scrollWidth, clientWidth: status.clientWidth,
    scrollHeight: status.scrollHeight, clientHeight: status.clientHeight,
    status: box(status.getBoundingClientRect()), content: box(range.getBoundingClientRect()),
    pane: box(document.querySelector('.terminal-pane').getBoundingClientRect()),
    others,
    buttonLines: Object.fromEntries(Array.from(document.querySelectorAll('.terminal-bar button, .terminal-bar a')).map((e) => {
      const r = document.createRange();
      r.selectNodeContents(e);
      const tops = new Set(Array.from(r.getClientRects()).map((c) => Math.round(c.top)));
      return [e.textContent.trim(), tops.size];
    })),
  };
})(%s)`

func readBar(b *e2eBrowser) barLayout {
	b.t.Helper()
	sel, _ := json.Marshal(barSelectors)
	return e2eRun(b, "read the terminal bar", chromedp.Evaluate[barLayout](fmt.Sprintf(barLayoutJS, sel)))
}

// problems lists what is wrong with the bar: the status running into
// another part, its text cut, a part outside the pane.
func (l barLayout) problems() []string {
	var out []string
	for _, s := range barSelectors {
		o := l.Others[s]
		if o == nil {
			if s != ".terminal-badges" { // shown only when recording
				out = append(out, fmt.Sprintf("the bar has no %s", s))
			}
			continue
		}
		if l.Status.overlaps(*o) {
			out = append(out, fmt.Sprintf("the status %s overlaps %s %s", l.Status, s, o))
		}
		if !o.inside(l.Pane) {
			out = append(out, fmt.Sprintf("%s %s is not inside the pane %s", s, o, l.Pane))
		}
	}
	if l.ScrollWidth > l.ClientWidth || l.ScrollHeight > l.ClientHeight {
		out = append(out, fmt.Sprintf("the status's text is cut: scroll %.0f×%.0f > client %.0f×%.0f", l.ScrollWidth, l.ScrollHeight, l.ClientWidth, l.ClientHeight))
	}
	if !l.Content.inside(l.Status) {
		out = append(out, fmt.Sprintf("the status's text %s runs out of its box %s", l.Content, l.Status))
	}
	for text, n := range l.ButtonLines {
		if n > 1 {
			out = append(out, fmt.Sprintf("the button %q is squeezed onto %d lines", text, n))
		}
	}
	if !l.Status.inside(l.Pane) {
		out = append(out, fmt.Sprintf("the status %s is not inside the pane %s", l.Status, l.Pane))
	}
	return out
}

// TestTerminalBarLayout opens a lab in Japanese at 1400×900 and other common
// widths: the terminal bar's status never runs into the Preview form or
// the Reset button, and its text is never cut — neither the ready message
// nor the longest one (the disk news, with a Reconnect button), which
// wrap instead. The page has no console error or failed request either.
func TestTerminalBarLayout(t *testing.T) {
	chromium := testenv.Chromium(t)
	p := startFakePlatform(t)
	id := p.student("bar-student", "bar-password-7", "ja")
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(p.logs)
		}
	})
	resize := func(w, h int64) {
		b.do(fmt.Sprintf("resize to %d×%d", w, h), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: w, Height: h, DeviceScaleFactor: 1})
			return err
		}))
	}
	problems := watchProblems(b)
	resize(1400, 900)
	b.do("open the login page", chromedp.Navigate(p.srv.URL()+"/login"))
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "bar-student"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "bar-password-7"),
		chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)),
	)
	waitJS(t, b, "the labs page", `location.pathname === '/labs'`, 10*time.Second)
	b.do("open the lab", chromedp.Navigate(p.srv.URL()+"/labs/"+barLab))
	waitJS(t, b, "the sandbox ready", `(() => { const s = document.querySelector('.terminal-status'); return s.dataset.state === 'ready' && s.textContent === 'サンドボックスの準備ができました。'; })()`, 20*time.Second)

	check := func(what string) {
		t.Helper()
		for _, w := range []int64{1400, 1280, 1366, 1536, 1920, 1024, 800, 480} {
			resize(w, 900)
			l := readBar(b)
			if pr := l.problems(); len(pr) > 0 {
				png := e2eRun(b, "screenshot", chromedp.CaptureScreenshot())
				name := filepath.Join(os.TempDir(), fmt.Sprintf("handson-terminal-bar-%d-%d.png", w, os.Getpid()))
				os.WriteFile(name, png, 0o644)
				t.Errorf("%s at %d px (screenshot %s), status %q (%s):\n%s", what, w, name, l.Text, l.State, strings.Join(pr, "\n"))
				continue
			}
			t.Logf("%s at %d px: status %s, %.0f px high", what, w, l.Status, l.Status.Bottom-l.Status.Top)
		}
		resize(1400, 900)
	}
	// The bar's own words come from the catalog the page carries
	// (<script id="messages">), in Japanese, formatted as Go formats them.
	words := e2eRun(b, "read the bar's words", chromedp.Evaluate[map[string]string](`({
		tab: document.querySelector('.terminal-tabs .terminal-tab')?.title ?? '',
		add: document.querySelector('.terminal-tabs .terminal-tab-add')?.title ?? '',
		find: document.querySelector('.terminal-tools .terminal-tool:last-child')?.textContent ?? '',
	})`))
	for part, want := range map[string]string{"tab": "ターミナル 1", "add": "新しいターミナル", "find": "検索"} {
		if words[part] != want {
			t.Errorf("the bar's %s says %q, want %q", part, words[part], want)
		}
	}
	check("the ready message")

	// The disk news ends the session: the longest status, with a button
	// (i18n's TestDiskNewsIsTheLongestStatus keeps it the longest).
	key := sandbox.Key{UserID: id, Lab: barLab}
	p.fake.Set(key, func(st *sandbox.Status) { st.DiskBytes = 6 << 30 })
	if err := p.sandboxes.Sweep(context.Background(), true); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	waitJS(t, b, "the disk news in the status", `(() => { const s = document.querySelector('.terminal-status'); return s.dataset.state === 'closed' && s.textContent.includes('ディスク使用量が 6.0 GiB') && !!s.querySelector('.terminal-reconnect'); })()`, 20*time.Second)
	if got := e2eRun(b, "read the reconnect button", chromedp.Evaluate[string](`document.querySelector('.terminal-reconnect')?.textContent ?? ''`)); got != "再接続" {
		t.Errorf("the reconnect button says %q, want 再接続", got)
	}
	check("the disk news")
	if l := problems.take(); len(l) > 0 {
		t.Errorf("the lab page: %d problems:\n%s", len(l), strings.Join(l, "\n"))
	}
}

// TestQueuePositionBrowser: while another student's sandbox holds the only
// start slot, a Japanese student who opens the lab sees their place in
// line and an estimate, in the terminal and the page's notice; when the
// slot frees, their shell opens and the notice goes.
func TestQueuePositionBrowser(t *testing.T) {
	chromium := testenv.Chromium(t)
	policy := sandbox.DefaultPolicy()
	policy.MaxStarts = 1
	p := startFakePlatformWith(t, policy)
	p.student("queue-student", "queue-password-7", "ja")
	holder := sandbox.Key{UserID: p.student("first-student", "first-password-7", "en"), Lab: barLab}
	hold := make(chan struct{})
	p.sandboxes.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		if sb.Key == holder {
			<-hold
		}
		return nil
	}
	if _, _, err := p.sandboxes.Start(context.Background(), holder, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(release)
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(p.logs)
		}
	})
	problems := watchProblems(b)
	login(b, p.srv.URL()+"/labs/"+barLab, "queue-student", "queue-password-7")
	waitJS(t, b, "the place in line in the terminal and the notice", `(() => {
		const s = document.querySelector('.terminal-status'), n = document.querySelector('.sandbox-notice');
		return s.dataset.state === 'starting' && /1 番目に並んでいます。約 \d+ 秒で起動が始まります。/.test(s.textContent)
			&& !n.hidden && n.textContent === s.textContent;
	})()`, 20*time.Second)
	if _, waiting, _ := p.sandboxes.StartLoad(); waiting != 1 {
		t.Errorf("%d waiting in line, want the student", waiting)
	}
	release()
	waitJS(t, b, "the shell, and the notice gone", `(() => {
		const s = document.querySelector('.terminal-status'), n = document.querySelector('.sandbox-notice');
		return s.dataset.state === 'ready' && n.hidden && window.handson.term.buffer.active.getLine(0)?.translateToString().includes('$');
	})()`, 20*time.Second)
	if l := problems.take(); len(l) > 0 {
		t.Errorf("%d problems:\n%s", len(l), strings.Join(l, "\n"))
	}
}
