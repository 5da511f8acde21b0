package cli

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	_ "github.com/mattn/go-sqlite3" // the store's driver, for one UPDATE below
	"github.com/moby/moby/client"

	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/testenv"
)

const (
	e2eLab      = "docker-basics"
	e2eStep     = "run-hello"
	e2eCommand  = `docker run --name hello busybox echo "Hello, Docker!"`
	e2eOutput   = "Hello, Docker!"
	e2ePrompt   = "student@docker-basics"
	e2eUsername = "e2e-student"
	e2ePassword = "e2e-password-5b1c"
)

// TestEndToEnd drives the platform the way a student does: a real Chromium
// logs in, opens the lab, types into the xterm terminal of a real sandbox,
// and presses Check (once failing, once passing); progress survives a reload.
func TestEndToEnd(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)

	// 1. The platform, on a free port with a fresh database.
	logs := &syncBuffer{} // server log and stdout; printed only on failure
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	t.Setenv("HANDSON_ADMIN_PASSWORD", "e2e-admin-password")
	a, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
	if err != nil {
		t.Fatalf("start the platform: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close the platform: %v", err)
		}
	})
	base := a.Server.URL()

	// The student gets a user id of its own (see e2eUserID), so that its
	// sandbox can never be the one of someone's `make run` (admin = user 1).
	key := sandbox.Key{UserID: e2eUserID(os.Getpid()), Lab: e2eLab}
	sweepSandboxes(t, a, key)
	createStudent(t, a, cfg.DataDir, key.UserID)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.engine.Remove(ctx, key); err != nil {
			t.Errorf("remove the sandbox: %v", err)
		}
	})

	// The browser. The first Run starts it; it lives until cleanup.
	browserOut := &syncBuffer{}
	ctx := newBrowser(t, chromium, browserOut)
	t.Cleanup(func() {
		if t.Failed() {
			dumpOnFailure(t, ctx, logs, browserOut)
		}
	})

	// 2. The lab page sends an anonymous visitor to the login form.
	do(t, ctx, "open the lab page", chromedp.Navigate(base+"/labs/"+e2eLab))
	st := waitFor(t, ctx, "redirect to the login page", 10*time.Second, func(s pageState) bool {
		return strings.HasPrefix(s.URL, "/login") && s.HasLoginForm
	})
	if !strings.Contains(st.URL, "next=") {
		t.Errorf("login URL %q: want a next= parameter back to the lab", st.URL)
	}
	do(t, ctx, "fill in the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), e2eUsername),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), e2ePassword),
	)
	if got := runIn(t, ctx, "read the username field", chromedp.Value(chromedp.CSS(`input[name=username]`))); got != e2eUsername {
		t.Fatalf("username field holds %q after typing %q", got, e2eUsername)
	}
	opened := time.Now()
	do(t, ctx, "submit the login form", chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)))

	// 3. Back on the lab page: the sandbox comes up and the shell prompts.
	waitFor(t, ctx, "the lab page after login", 15*time.Second, func(s pageState) bool {
		return s.URL == "/labs/"+e2eLab && s.Step.Present
	})
	waitFor(t, ctx, "terminal status ready (first open creates the sandbox)", 120*time.Second, func(s pageState) bool {
		return s.Terminal == "ready"
	})
	t.Logf("timing: lab page → terminal ready: %s", time.Since(opened).Round(time.Millisecond))
	waitFor(t, ctx, "the prompt "+e2ePrompt+" in the terminal", 30*time.Second, func(s pageState) bool {
		return s.screenContains(e2ePrompt)
	})
	t.Logf("timing: lab page → prompt visible: %s", time.Since(opened).Round(time.Millisecond))
	if st := snapshot(t, ctx); st.Step.Status != "none" {
		t.Fatalf("step %s: data-status=%q on a fresh account, want none", e2eStep, st.Step.Status)
	}

	// 7. Check before doing anything: the check must be able to fail.
	st, took := check(t, ctx, "failed")
	t.Logf("timing: check round-trip (failing): %s", took.Round(time.Millisecond))
	if st.Step.Result != "failed" || strings.TrimSpace(st.Step.Message) == "" {
		t.Fatalf("failing check: .check-result[data-result=%q] says %q, want data-result=failed and a reason", st.Step.Result, st.Step.Message)
	}
	t.Logf("failing check says: %q", st.Step.Message)

	// 4. Type the command into the terminal as a user does, and see its output.
	typeIntoTerminal(t, ctx, e2eCommand)
	typed := time.Now()
	waitFor(t, ctx, "the line "+e2eOutput+" printed by the container", 60*time.Second, func(s pageState) bool {
		return s.screenHasLine(e2eOutput)
	})
	t.Logf("timing: Enter → container output on screen: %s", time.Since(typed).Round(time.Millisecond))
	if st := snapshot(t, ctx); strings.Count(strings.Join(st.Screen, "\n"), e2eCommand) != 1 {
		t.Fatalf("the command should appear exactly once on the screen (no doubled keys); screen:\n%s", st.screen())
	}

	// 5. Check again: now it passes.
	st, took = check(t, ctx, "passed")
	t.Logf("timing: check round-trip (passing): %s", took.Round(time.Millisecond))
	if st.Step.Result != "passed" || strings.HasPrefix(st.Step.Message, "Check failed") {
		t.Fatalf("passing check: .check-result[data-result=%q] says %q, want data-result=passed", st.Step.Result, st.Step.Message)
	}

	// 6. Reload: progress comes from SQLite and the terminal reconnects.
	reloaded := time.Now()
	do(t, ctx, "reload the lab page", chromedp.Reload())
	st = waitFor(t, ctx, "the lab page after reload", 15*time.Second, func(s pageState) bool {
		return s.URL == "/labs/"+e2eLab && s.Step.Present && s.Generation != st.Generation
	})
	if st.Step.Status != "passed" {
		t.Fatalf("after reload, step %s has data-status=%q, want passed (progress is stored)", e2eStep, st.Step.Status)
	}
	waitFor(t, ctx, "terminal status ready after reload", 60*time.Second, func(s pageState) bool {
		return s.Terminal == "ready"
	})
	waitFor(t, ctx, "the prompt after reload", 30*time.Second, func(s pageState) bool {
		return s.screenContains(e2ePrompt)
	})
	t.Logf("timing: reload → prompt visible: %s", time.Since(reloaded).Round(time.Millisecond))
}

// e2eUserID gives each test process a user id no real account has, so two
// runs (or a developer's server) never share a sandbox container name.
func e2eUserID(pid int) int64 { return e2eUserBase + int64(pid) }

const e2eUserBase = 1_000_000_000

// sweepSandboxes removes this test's sandbox if a previous run left it, and
// those of earlier runs whose process is gone (killed by -timeout or ^C,
// their cleanup never ran). Other sandboxes are not touched.
func sweepSandboxes(t *testing.T, a *app, mine sandbox.Key) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, k := range listSandboxes(t, ctx) {
		if k.Lab != e2eLab || k.UserID < e2eUserBase {
			continue
		}
		if k != mine && processAlive(int(k.UserID-e2eUserBase)) {
			continue // another test run, still going
		}
		t.Logf("removing leftover sandbox of user %d", k.UserID)
		if err := a.engine.Remove(ctx, k); err != nil {
			t.Fatalf("remove leftover sandbox %+v: %v", k, err)
		}
	}
}

// createStudent adds the student account with the given id. The store
// numbers users itself, so the new row is renumbered before anyone logs in.
func createStudent(t *testing.T, a *app, dataDir string, id int64) {
	t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: e2eUsername, DisplayName: "E2E Student", PasswordHash: hash, Role: store.RoleStudent}
	if err := a.db.CreateUser(ctx, u); err != nil {
		t.Fatalf("create the student: %v", err)
	}
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "handson.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE users SET id = ? WHERE id = ?`, id, u.ID); err != nil {
		t.Fatalf("renumber the student: %v", err)
	}
	if got, err := a.db.UserByUsername(ctx, e2eUsername); err != nil || got.ID != id {
		t.Fatalf("student after renumbering: %+v, %v; want id %d", got, err, id)
	}
}

// listSandboxes returns the keys of the platform's containers and networks
// on the host's Docker (a network can outlive a container).
func listSandboxes(t *testing.T, ctx context.Context) []sandbox.Key {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", docker.LabelManaged+"=true")
	containers, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list sandbox containers: %v", err)
	}
	networks, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list sandbox networks: %v", err)
	}
	seen := map[sandbox.Key]bool{}
	var keys []sandbox.Key
	add := func(labels map[string]string) {
		id, err := strconv.ParseInt(labels[docker.LabelUser], 10, 64)
		k := sandbox.Key{UserID: id, Lab: labels[docker.LabelLab]}
		if err == nil && k.Lab != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, c := range containers.Items {
		add(c.Labels)
	}
	for _, n := range networks.Items {
		add(n.Labels)
	}
	return keys
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- the browser -----------------------------------------------------------

// newBrowser starts a headless Chromium with the flags of
// shared/notes/browser-tests.md and a fresh profile; it stops at cleanup.
func newBrowser(t *testing.T, chromium string, out *syncBuffer) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // Chromium refuses to run as root otherwise
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("window-size", "1400,900"),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.CombinedOutput(out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	started := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium (%s): %v\n%s", chromium, err, out.String())
	}
	t.Logf("timing: Chromium started in %s", time.Since(started).Round(time.Millisecond))
	return ctx
}

// do runs actions with a deadline, failing the test with what was attempted.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func runIn[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// pageState is everything the test looks at, read in one evaluation.
type pageState struct {
	URL          string   `json:"url"` // path and query
	Generation   float64  `json:"generation"`
	HasLoginForm bool     `json:"hasLoginForm"`
	Terminal     string   `json:"terminal"`     // .terminal-status[data-state]
	TerminalText string   `json:"terminalText"` // its text
	Focused      string   `json:"focused"`      // class of document.activeElement
	Screen       []string `json:"screen"`       // the xterm buffer, wrapped rows joined
	Step         struct {
		Present bool   `json:"present"`
		Status  string `json:"status"` // section[data-status]
		Busy    bool   `json:"busy"`   // a check is running
		Result  string `json:"result"` // .check-result[data-result]
		Message string `json:"message"`
	} `json:"step"`
}

const pageStateJS = `(() => {
  if (!window.__e2eGeneration) window.__e2eGeneration = Date.now() + Math.random();
  const status = document.querySelector('.terminal-status');
  const section = document.getElementById('step-` + e2eStep + `');
  const result = section && section.querySelector('.check-result');
  const screen = [];
  const term = window.handson && window.handson.term;
  if (term) {
    const buf = term.buffer.active;
    for (let i = 0; i < buf.length; i++) {
      const line = buf.getLine(i);
      if (!line) continue;
      const text = line.translateToString(true);
      if (line.isWrapped && screen.length) screen[screen.length - 1] += text;
      else screen.push(text);
    }
    while (screen.length && screen[screen.length - 1] === '') screen.pop();
  }
  return {
    url: location.pathname + location.search,
    generation: window.__e2eGeneration,
    hasLoginForm: !!document.querySelector('main.login input[name=username]'),
    terminal: status ? status.dataset.state || '' : '',
    terminalText: status ? status.textContent : '',
    focused: document.activeElement ? String(document.activeElement.className) : '',
    screen,
    step: {
      present: !!section,
      status: section ? section.dataset.status || '' : '',
      busy: !!section && section.getAttribute('aria-busy') === 'true',
      result: result ? result.dataset.result || '' : '',
      // The verdict only: the checker's output sits in a <details> after it.
      message: result ? Array.from(result.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim() : '',
    },
  };
})()`

func snapshot(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	return runIn(t, ctx, "read the page", chromedp.Evaluate[pageState](pageStateJS))
}

func (s pageState) screen() string { return strings.Join(s.Screen, "\n") }

func (s pageState) screenContains(text string) bool {
	return strings.Contains(s.screen(), text)
}

func (s pageState) screenHasLine(text string) bool {
	for _, l := range s.Screen {
		if strings.TrimSpace(l) == text {
			return true
		}
	}
	return false
}

func (s pageState) String() string {
	return fmt.Sprintf("url=%s terminal=%s (%q) focus=%q step{status=%s busy=%t result=%s message=%q}\n--- terminal screen ---\n%s\n--- end of screen ---",
		s.URL, s.Terminal, s.TerminalText, s.Focused, s.Step.Status, s.Step.Busy, s.Step.Result, s.Step.Message, s.screen())
}

// waitFor polls the page until cond holds, and fails the test after timeout
// with what was expected and what was last seen.
func waitFor(t *testing.T, ctx context.Context, what string, timeout time.Duration, cond func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last pageState
	var lastErr error
	for {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := chromedp.Run(ectx, chromedp.Evaluate[pageState](pageStateJS))
		cancel()
		if err == nil {
			if cond(s) {
				return s
			}
			last, lastErr = s, nil
		} else {
			lastErr = err // e.g. the page is navigating; try again
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\nlast seen: %s\nlast error: %v", timeout, what, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// check presses the step's Check button and waits for the verdict.
func check(t *testing.T, ctx context.Context, want string) (pageState, time.Duration) {
	t.Helper()
	before := snapshot(t, ctx)
	if before.Step.Busy {
		t.Fatalf("Check pressed while another check runs: %s", before)
	}
	started := time.Now()
	do(t, ctx, "press Check", chromedp.Click(chromedp.CSS(`#step-`+e2eStep+` button.check-button`)))
	st := waitFor(t, ctx, "the check to finish", 60*time.Second, func(s pageState) bool {
		return !s.Step.Busy && s.Step.Result != "" && s.Step.Result != "checking"
	})
	took := time.Since(started)
	if st.Step.Status != want {
		t.Fatalf("after Check: step data-status=%q, want %q\n%s", st.Step.Status, want, st)
	}
	return st, took
}

// typeIntoTerminal focuses xterm with a click and types line + Enter the
// way that reaches xterm.js exactly once (shared/notes/browser-tests.md):
// Input.insertText for the text, a keyDown that carries "\r" for Enter.
func typeIntoTerminal(t *testing.T, ctx context.Context, line string) {
	t.Helper()
	do(t, ctx, "click into the terminal", chromedp.Click(chromedp.CSS(`#terminal .xterm-screen`)))
	waitFor(t, ctx, "focus in the terminal", 5*time.Second, func(s pageState) bool {
		return strings.Contains(s.Focused, "xterm-helper-textarea")
	})
	do(t, ctx, "type into the terminal", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: line}); err != nil {
			return err
		}
		enter := input.DispatchKeyEventParams{Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		down, up := enter, enter
		down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, "\r", "\r"
		up.Type = input.DispatchKeyEventTypeKeyUp
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

// dumpOnFailure logs what a person debugging a red run wants to see.
func dumpOnFailure(t *testing.T, ctx context.Context, logs, browserOut *syncBuffer) {
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s, err := chromedp.Run(ectx, chromedp.Evaluate[pageState](pageStateJS)); err == nil {
		t.Logf("page at failure: %s", s)
	} else {
		t.Logf("page at failure: unreadable: %v", err)
	}
	if png, err := chromedp.Run(ectx, chromedp.CaptureScreenshot()); err == nil {
		name := filepath.Join(os.TempDir(), "handson-e2e-"+strconv.Itoa(os.Getpid())+".png")
		if err := os.WriteFile(name, png, 0o644); err == nil {
			t.Logf("screenshot: %s", name)
		}
	}
	t.Logf("server log:\n%s", logs.String())
	t.Logf("chromium output:\n%s", browserOut.String())
}
