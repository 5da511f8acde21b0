package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"handson/internal/auth"
	"handson/internal/grading"
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
	course, err := loadCourse("")
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
	sandboxes := sandbox.NewManager(fake, db, sandbox.DefaultPolicy(), logger)
	srv := &server.Server{
		Store:         db,
		Course:        course,
		Sandboxes:     sandboxes,
		Grader:        &grading.Grader{Engine: fake},
		Log:           logger,
		Sandbox:       sandbox.Spec{Image: "fake"},
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
