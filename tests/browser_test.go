package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// e2eBrowser is one tab of a headless Chromium, driven for one test, with
// helpers that fail the test with what was expected and what was seen.
// The facts behind it are in shared/notes/browser-tests.md.
type e2eBrowser struct {
	t   *testing.T
	ctx context.Context
	out *e2eBuffer // Chromium's stdout and stderr
}

// newE2EBrowser starts Chromium with a fresh profile; it stops at cleanup.
func newE2EBrowser(t *testing.T, chromium string) *e2eBrowser {
	t.Helper()
	out := &e2eBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests may run as root
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
	// The first Do starts the browser and binds it to ctx, which has no
	// deadline; every later action gets a deadline of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v\n%s", chromium, err, out.String())
	}
	t.Logf("timing: Chromium started in %s", since(started))
	return &e2eBrowser{t: t, ctx: ctx, out: out}
}

// do runs actions with a deadline.
func (b *e2eBrowser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// e2eRun runs an action that returns a value, with a deadline.
func e2eRun[T any](b *e2eBrowser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// pageState is everything the test looks at, read in one evaluation.
type pageState struct {
	URL          string   `json:"url"`          // path and query
	Generation   float64  `json:"generation"`   // changes when the page is loaded again
	HasLoginForm bool     `json:"hasLoginForm"` //
	Terminal     string   `json:"terminal"`     // .terminal-status[data-state]
	TerminalText string   `json:"terminalText"` // and its text
	Focused      string   `json:"focused"`      // class of document.activeElement
	Screen       []string `json:"screen"`       // the xterm buffer; wrapped rows joined
	Step         struct {
		Present bool   `json:"present"`
		Status  string `json:"status"`  // section.step[data-status]
		Busy    bool   `json:"busy"`    // a check is running
		Result  string `json:"result"`  // .check-result[data-result]
		Message string `json:"message"` // its verdict, without the checker's output
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
      message: result ? Array.from(result.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim() : '',
    },
  };
})()`

func (s pageState) screen() string { return strings.Join(s.Screen, "\n") }

func (s pageState) screenContains(text string) bool { return strings.Contains(s.screen(), text) }

// screenHasLine reports whether a line of the screen is text, and only that.
func (s pageState) screenHasLine(text string) bool {
	for _, l := range s.Screen {
		if strings.TrimSpace(l) == text {
			return true
		}
	}
	return false
}

func (s pageState) String() string {
	return fmt.Sprintf("url=%s terminal=%s (%q) focus=%q\nstep %s: status=%s busy=%t result=%s message=%q\n--- terminal screen ---\n%s\n--- end of screen ---",
		s.URL, s.Terminal, s.TerminalText, s.Focused, e2eStep, s.Step.Status, s.Step.Busy, s.Step.Result, s.Step.Message, s.screen())
}

func (b *e2eBrowser) state(ctx context.Context) (pageState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
}

// waitFor polls the page until cond holds, and fails the test after timeout
// with what it waited for and what it saw last.
func (b *e2eBrowser) waitFor(what string, timeout time.Duration, cond func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last pageState
	var lastErr error
	for {
		s, err := b.state(b.ctx)
		if err == nil {
			if cond(s) {
				return s
			}
			last = s
		}
		lastErr = err // while a page loads, evaluation can fail: try again
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s; last seen: %s\nlast error: %v", timeout, what, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// check presses the step's Check button, waits for the verdict and wants
// section.step[data-status=want].
func (b *e2eBrowser) check(want string) pageState {
	b.t.Helper()
	started := time.Now()
	b.do("press Check", chromedp.Click(chromedp.CSS(`#step-`+e2eStep+` button.check-button`)))
	st := b.waitFor("the check's verdict", 60*time.Second, func(s pageState) bool {
		return !s.Step.Busy && s.Step.Result != "" && s.Step.Result != "checking"
	})
	b.t.Logf("timing: check round-trip (%s): %s", want, since(started))
	if st.Step.Status != want {
		b.t.Fatalf("after Check: step data-status=%q, want %q; page: %s", st.Step.Status, want, st)
	}
	return st
}

// typeIntoTerminal focuses xterm with a click and types line and Enter in
// the ways that reach xterm.js exactly once: Input.insertText for the text
// and a keyDown carrying "\r" for Enter (SendKeys would double every key).
func (b *e2eBrowser) typeIntoTerminal(line string) {
	b.t.Helper()
	b.do("click into the terminal", chromedp.Click(chromedp.CSS(`#terminal .xterm-screen`)))
	b.waitFor("the focus in the terminal", 5*time.Second, func(s pageState) bool {
		return strings.Contains(s.Focused, "xterm-helper-textarea")
	})
	b.do("type into the terminal", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: line}); err != nil {
			return err
		}
		return termEnter(ctx, tg)
	}))
}

// dump logs what someone debugging a red run wants: the page (terminal
// screen, check verdict), a screenshot, the server's log and Chromium's.
func (b *e2eBrowser) dump(serverLog *e2eBuffer) {
	if s, err := b.state(b.ctx); err == nil {
		b.t.Logf("the page at the failure: %s", s)
	} else {
		b.t.Logf("the page at the failure could not be read: %v", err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		// Not in t.TempDir: that is gone when the test ends.
		name := filepath.Join(os.TempDir(), "handson-e2e-"+strconv.Itoa(os.Getpid())+".png")
		if err := os.WriteFile(name, png, 0o644); err == nil {
			b.t.Logf("screenshot: %s", name)
		}
	}
	b.t.Logf("server log:\n%s", serverLog)
	var lines []string
	for _, l := range strings.Split(b.out.String(), "\n") {
		if !strings.Contains(l, "dbus") { // no system bus in containers: noise
			lines = append(lines, l)
		}
	}
	b.t.Logf("Chromium's output (without D-Bus complaints):\n%s", strings.Join(lines, "\n"))
}

// e2eBuffer collects output written from several goroutines.
type e2eBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *e2eBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *e2eBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
