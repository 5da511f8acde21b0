package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"handson/internal/auth"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/terminal"
	"handson/internal/testenv"
)

// termPlatform is the whole platform on a free port with a fresh data dir
// (so its sandboxes are its own), for terminal tests against real sandboxes.
type termPlatform struct {
	t     testing.TB
	a     *platform.Platform
	logs  *e2eBuffer
	syncs int
}

func newTermPlatform(t testing.TB) *termPlatform {
	t.Helper()
	logs := &e2eBuffer{}
	a := startPlatform(t, t.TempDir(), logs)
	return &termPlatform{t: t, a: a, logs: logs}
}

// student creates a student; its sandbox is removed when the test ends.
func (p *termPlatform) student(name, password string) int64 {
	p.t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		p.t.Fatal(err)
	}
	u := &store.User{Username: name, DisplayName: name, PasswordHash: hash, Role: store.RoleStudent}
	if err := p.a.DB.CreateUser(context.Background(), u); err != nil {
		p.t.Fatal(err)
	}
	key := sandbox.Key{UserID: u.ID, Lab: e2eLab}
	p.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := p.a.Engine.Remove(ctx, key); err != nil {
			p.t.Errorf("remove the sandbox: %v", err)
		}
	})
	return u.ID
}

// login returns the session cookie header of a user.
func (p *termPlatform) login(name, password string) string {
	p.t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.PostForm(p.a.Server.URL()+"/login", url.Values{"username": {name}, "password": {password}})
	if err != nil {
		p.t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	p.t.Fatalf("login %s: status %d, no cookie", name, res.StatusCode)
	return ""
}

// dial opens the lab's terminal websocket as the cookie's user.
func (p *termPlatform) dial(cookie, query string) *terminal.Client {
	p.t.Helper()
	u, _ := url.Parse(p.a.Server.URL())
	h := http.Header{"Origin": {p.a.Server.URL()}, "Cookie": {cookie}}
	ws, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+"/api/labs/"+e2eLab+"/terminal?"+query, h)
	if err != nil {
		code := 0
		if res != nil {
			code = res.StatusCode
		}
		p.t.Fatalf("dial the terminal (%s): %v (HTTP %d)", query, err, code)
	}
	p.t.Cleanup(func() { ws.Close() })
	return terminal.NewClient(ws)
}

// read reads output until want, failing the test after timeout.
func (p *termPlatform) read(t testing.TB, c *terminal.Client, want string, timeout time.Duration) string {
	t.Helper()
	out, err := c.ReadUntil(want, timeout)
	if err != nil {
		if len(out) > 600 {
			out = "…" + out[len(out)-600:]
		}
		t.Fatalf("%v\noutput: %q\nserver log:\n%s", err, out, p.logs)
	}
	return out
}

// TestTerminalRealSandbox drives terminal sessions of a real sandbox over
// the websocket as the browser does: 100 MiB byte-exact, a reconnect in
// the middle of output, yes + Ctrl-C, and a read-only viewer.
func TestTerminalRealSandbox(t *testing.T) {
	testenv.RequireDocker(t)
	p := newTermPlatform(t)
	p.student("term-student", "term-password")
	cookie := p.login("term-student", "term-password")

	c := p.dial(cookie, "tab=1")
	c.Hello(terminal.HelloRequest{Cols: 120, Rows: 40})
	started := time.Now()
	p.read(t, c, e2ePrompt, 120*time.Second)
	t.Logf("timing: dial → prompt (sandbox created): %s", since(started))
	id := c.Session
	if id == "" || !c.Last.New {
		t.Fatalf("hello reply %+v, want a new session", c.Last)
	}

	t.Run("100MiB byte-exact", func(t *testing.T) {
		const size = 100 << 20
		// Raw mode: the TTY passes bytes through untouched (no \n → \r\n).
		c.Send(fmt.Sprintf("stty raw -echo; head -c %d /dev/urandom > /tmp/big && sha256sum /tmp/big && printf '<<%%s>>' GO && cat /tmp/big && printf '<<%%s>>' END; stty sane; rm /tmp/big\n", size))
		var pre, post []byte
		h := sha256.New()
		n := 0
		var began time.Time
		c.WS.SetReadDeadline(time.Now().Add(3 * time.Minute))
		for !bytes.Contains(post, []byte("<<END>>")) {
			typ, data, err := c.Next()
			if err != nil {
				t.Fatalf("read after %d bytes: %v", n, err)
			}
			if typ != terminal.Output {
				continue
			}
			switch {
			case began.IsZero():
				pre = append(pre, data...)
				if i := bytes.Index(pre, []byte("<<GO>>")); i >= 0 {
					began = time.Now()
					data = pre[i+6:]
					pre = pre[:i]
				} else {
					continue
				}
				fallthrough
			case n < size:
				k := min(len(data), size-n)
				h.Write(data[:k])
				n += k
				post = append(post, data[k:]...)
			default:
				post = append(post, data...)
			}
		}
		elapsed := time.Since(began)
		m := regexp.MustCompile(`([0-9a-f]{64})\s+/tmp/big`).FindSubmatch(pre)
		if m == nil {
			t.Fatalf("no checksum in %q", pre)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != string(m[1]) || !bytes.HasPrefix(post, []byte("<<END>>")) {
			t.Fatalf("100 MiB arrived with sha256 %s, the sandbox says %s (trailer %q)", got, m[1], post[:min(len(post), 40)])
		}
		t.Logf("measured: 100 MiB byte-exact through the websocket in %s (%.0f MiB/s)", elapsed.Round(time.Millisecond), 100/elapsed.Seconds())
		p.sync(t, c)
	})

	t.Run("reconnect mid-output", func(t *testing.T) {
		const last = 1500000
		c.Send(fmt.Sprintf("stty -echo; echo; echo START; seq 1 %d; echo END; stty echo\n", last))
		var got bytes.Buffer
		c.WS.SetReadDeadline(time.Now().Add(time.Minute))
		for got.Len() < 3<<20 { // 3 MB in, drop the connection
			typ, data, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			if typ == terminal.Output {
				got.Write(data)
			}
		}
		off := c.Offset
		c.WS.Close() // no close handshake: a dropped network
		time.Sleep(500 * time.Millisecond)

		c2 := p.dial(cookie, "tab=1")
		c2.Session, c2.Offset = id, off
		c2.Resume(120, 40)
		resumed := time.Now()
		c2.WS.SetReadDeadline(time.Now().Add(time.Minute))
		first := time.Duration(0)
		for !bytes.Contains(got.Bytes(), []byte("\r\nEND\r\n")) {
			typ, data, err := c2.Next()
			if err != nil {
				t.Fatal(err)
			}
			if typ == terminal.Output {
				if first == 0 {
					first = time.Since(resumed)
				}
				got.Write(data)
			}
		}
		if c2.Session != id || c2.Last.Offset != off || c2.Last.Replay {
			t.Fatalf("resume reply %+v, want session %s at offset %d", c2.Last, id, off)
		}
		text := strings.ReplaceAll(got.String(), "\r\n", "\n")
		i, j := strings.Index(text, "\nSTART\n"), strings.Index(text, "\nEND\n")
		var want strings.Builder
		for k := 1; k <= last; k++ {
			want.WriteString(strconv.Itoa(k))
			want.WriteByte('\n')
		}
		if i < 0 || j < 0 || text[i+7:j+1] != want.String() {
			t.Fatalf("output after a reconnect at %d is not seq 1 %d exactly (%d bytes between the markers, want %d)", off, last, j-i-7, want.Len())
		}
		t.Logf("measured: reconnect at offset %d; first resumed output %s after the hello; nothing lost or doubled", off, first.Round(time.Millisecond))
		c = c2
		p.sync(t, c)
	})

	t.Run("registry environment", func(t *testing.T) {
		// HANDSON_USER per shell (lower case: the registry namespace),
		// REGISTRY and the /etc/hosts entry from the sandbox's creation.
		c.Send("echo \"env:$HANDSON_USER:$REGISTRY:$(getent hosts registry.handson | wc -l)\"\n")
		p.read(t, c, "env:term-student:registry.handson:5000:1", 30*time.Second)
	})

	t.Run("yes then Ctrl-C", func(t *testing.T) {
		c.Send("yes\n")
		p.read(t, c, "y\r\ny\r\ny\r\n", 10*time.Second)
		time.Sleep(time.Second) // a flood in full swing
		sent, before := time.Now(), c.Offset
		c.Send("\x03")
		c.Send("echo back$((40+2))\n")
		p.read(t, c, "back42", 30*time.Second)
		t.Logf("measured: yes, Ctrl-C → prompt and output back in %s, after %d KiB more output", since(sent), (c.Offset-before)>>10)
	})

	t.Run("read-only viewer", func(t *testing.T) {
		admin := p.login("admin", testAdminPassword)
		v := p.dial(admin, "tab=1&view=1&user=1") // the admin (user 1) has no terminal
		v.Hello(terminal.HelloRequest{Cols: 80, Rows: 24})
		v.ReadUntil("never", 10*time.Second)
		if v.Status.State != "closed" {
			t.Errorf("watching a user without a terminal: %+v", v.Status)
		}

		studentID := p.studentID("term-student")
		v = p.dial(admin, "tab=1&view=1&user="+strconv.FormatInt(studentID, 10))
		v.Hello(terminal.HelloRequest{Cols: 80, Rows: 24})
		p.read(t, v, "back42", 20*time.Second) // the replay
		if !v.Last.ReadOnly || v.Session != id {
			t.Fatalf("viewer reply %+v", v.Last)
		}
		v.Send("touch /tmp/viewer-was-here\n")
		v.Resize(20, 5)
		time.Sleep(500 * time.Millisecond)
		c.Send("ls /tmp/viewer-was-here; stty size; echo done$((1+1))\n")
		out := p.read(t, c, "done2", 20*time.Second)
		if !strings.Contains(out, "No such file") || !strings.Contains(out, "40 120") {
			t.Errorf("the viewer's input or resize reached the shell: %q", out)
		}
		p.read(t, v, "done2", 20*time.Second)

		// A student cannot watch.
		u, _ := url.Parse(p.a.Server.URL())
		_, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+"/api/labs/"+e2eLab+"/terminal?view=1&user=1",
			http.Header{"Origin": {p.a.Server.URL()}, "Cookie": {cookie}})
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("a student watching: %v, want 403", err)
		}
	})
}

// sync waits until the shell has run everything typed so far.
func (p *termPlatform) sync(t *testing.T, c *terminal.Client) {
	t.Helper()
	p.syncs++
	c.Send(fmt.Sprintf("echo sync-$((%d+1))\n", p.syncs))
	p.read(t, c, fmt.Sprintf("sync-%d\r", p.syncs+1), 30*time.Second)
}

func (p *termPlatform) studentID(name string) int64 {
	p.t.Helper()
	u, err := p.a.DB.UserByUsername(context.Background(), name)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.ID
}

// TestTerminalBrowser: a real Chromium types into the terminal (Japanese
// through an emulated IME too), resizes it, reloads the page and finds the
// same shell with its scrollback, and opens a second tab with its own shell.
func TestTerminalBrowser(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)
	p := newTermPlatform(t)
	p.student(e2eUsername, e2ePassword)
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(p.logs)
		}
	})

	b.do("open the lab page", chromedp.Navigate(p.a.Server.URL()+"/labs/"+e2eLab))
	b.waitFor("the login page", 10*time.Second, func(s pageState) bool { return s.HasLoginForm })
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), e2eUsername),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), e2ePassword),
		chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)),
	)
	b.waitFor("the prompt", 120*time.Second, func(s pageState) bool {
		return s.Terminal == "ready" && s.screenContains(e2ePrompt)
	})

	// The shell's PID, to recognise the shell after a reload.
	termType(b, "echo pid=$$")
	pidRe := regexp.MustCompile(`^pid=(\d+)$`)
	var pid string
	b.waitFor("the PID", 20*time.Second, func(s pageState) bool {
		for _, l := range s.Screen {
			if m := pidRe.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				pid = m[1]
				return true
			}
		}
		return false
	})

	// Japanese through an IME: composition updates, then the commit.
	b.do("focus the terminal", termFocus)
	b.do("type Japanese through the IME", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "echo "}); err != nil {
			return err
		}
		for _, comp := range []string{"こ", "こん", "こんに", "こんにち", "こんにちは"} {
			n := int64(len([]rune(comp)))
			if _, err := cdp.Call(ctx, tg, input.ImeSetComposition, input.ImeSetCompositionParams{Text: comp, SelectionStart: n, SelectionEnd: n}); err != nil {
				return err
			}
		}
		if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "こんにちは"}); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // xterm sends the committed text from a timer
		return termEnter(ctx, tg)
	}))
	st := b.waitFor("こんにちは echoed back", 20*time.Second, func(s pageState) bool { return s.screenHasLine("こんにちは") })
	if n := strings.Count(st.screen(), "echo こんにちは"); n != 1 || strings.Contains(st.screen(), "こんこ") {
		t.Fatalf("the Japanese command is %d times on the screen (want once, no partial compositions):\n%s", n, st.screen())
	}

	// Resize: the shell learns the new size.
	b.do("shrink the window", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1100, Height: 640, DeviceScaleFactor: 1})
		return err
	}))
	time.Sleep(500 * time.Millisecond) // the fit is debounced
	size := e2eRun(b, "read the terminal size", chromedp.Evaluate[[]int](`[window.handson.term.rows, window.handson.term.cols]`))
	termType(b, "stty size")
	want := fmt.Sprintf("%d %d", size[0], size[1])
	b.waitFor("stty size = "+want, 20*time.Second, func(s pageState) bool { return s.screenHasLine(want) })

	// A long paste (100 kB: several websocket messages) arrives whole.
	termType(b, "wc -c")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// wc runs once bash has left readline, which turns bracketed paste off.
		if !e2eRun(b, "read the paste mode", chromedp.Evaluate[bool](`window.handson.term.modes.bracketedPasteMode`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bracketed paste mode still on 10 s after starting wc")
		}
	}
	e2eRun(b, "paste 100 kB", chromedp.Evaluate[bool](`(window.handson.term.paste(Array.from({length: 2000}, (_, i) => String(i).padStart(49, '.')).join('\n') + '\n'), true)`))
	e2eRun(b, "end the input", chromedp.Evaluate[bool](`window.handson.send('\x04')`))
	b.waitFor("wc -c = 100000", 30*time.Second, func(s pageState) bool { return s.screenHasLine("100000") })

	// Reload: the same shell, its earlier output replayed.
	reloaded := time.Now()
	b.do("reload", chromedp.Reload())
	b.waitFor("the earlier output after the reload", 30*time.Second, func(s pageState) bool {
		return s.Terminal == "ready" && s.screenHasLine("pid="+pid) && s.screenHasLine("こんにちは")
	})
	t.Logf("timing: reload → scrollback back: %s", since(reloaded))
	termType(b, "echo again=$$")
	b.waitFor("the same PID after the reload", 20*time.Second, func(s pageState) bool { return s.screenHasLine("again=" + pid) })

	// A second tab: a shell of its own; the first tab keeps its shell.
	b.do("open a second terminal", chromedp.Click(chromedp.CSS(`.terminal-tab-add`)))
	b.waitFor("the second tab's prompt", 30*time.Second, func(s pageState) bool {
		return s.Terminal == "ready" && s.screenContains(e2ePrompt) && !s.screenContains("again=")
	})
	termType(b, "echo pid=$$")
	b.waitFor("a different shell in tab 2", 20*time.Second, func(s pageState) bool {
		for _, l := range s.Screen {
			if m := pidRe.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				return m[1] != pid
			}
		}
		return false
	})
	b.do("back to the first tab", chromedp.Click(chromedp.CSS(`.terminal-tab[data-tab="1"]`)))
	b.waitFor("tab 1's screen", 10*time.Second, func(s pageState) bool { return s.screenHasLine("again=" + pid) })

	// yes: the page stays responsive, and Ctrl-C brings the prompt back.
	termType(b, "yes")
	time.Sleep(time.Second)
	var worst time.Duration
	for range 10 {
		t0 := time.Now()
		e2eRun(b, "evaluate during the flood", chromedp.Evaluate[bool](`true`))
		worst = max(worst, time.Since(t0))
		time.Sleep(100 * time.Millisecond)
	}
	// Ctrl-C and a command at once; the page times until its output is
	// on the screen.
	ms := e2eRun(b, "Ctrl-C", chromedp.Evaluate[float64](`new Promise((resolve) => {
	  const term = window.handson.term, t0 = performance.now();
	  const sub = term.onWriteParsed(() => {
	    const buf = term.buffer.active;
	    for (let i = Math.max(0, buf.length - term.rows); i < buf.length; i++) {
	      if (buf.getLine(i)?.translateToString(true) === 'back42') { sub.dispose(); resolve(performance.now() - t0); return; }
	    }
	  });
	  window.handson.send('\x03');
	  window.handson.send('echo back$((40+2))\r');
	})`, chromedp.EvalAwaitPromise))
	b.waitFor("the prompt after Ctrl-C", 30*time.Second, func(s pageState) bool { return s.screenHasLine("back42") })
	t.Logf("measured: yes in Chromium: the page answered within %s (worst of 10); Ctrl-C → next command's output on screen in %.0f ms", worst.Round(time.Millisecond), ms)
	if worst > 2*time.Second {
		t.Errorf("the page froze for %s during yes", worst)
	}
}

// termType focuses the visible terminal and types line and Enter the ways
// that reach xterm.js exactly once (shared/notes/browser-tests.md).
func termType(b *e2eBrowser, line string) {
	b.t.Helper()
	b.do("type "+line, termFocus, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: line}); err != nil {
			return err
		}
		return termEnter(ctx, tg)
	}))
}

func termEnter(ctx context.Context, tg *chromedp.Target) error {
	down := input.DispatchKeyEventParams{
		Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
		WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r",
	}
	up := input.DispatchKeyEventParams{
		Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter",
		WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
	}
	for _, ev := range []input.DispatchKeyEventParams{down, up} {
		if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, ev); err != nil {
			return err
		}
	}
	return nil
}

// termFocus focuses the visible terminal (clicking could hit a hidden tab's).
func termFocus(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
	_, err := chromedp.Evaluate[bool](`(window.handson.term.focus(), true)`)(ctx, tg)
	return chromedp.Void{}, err
}

// BenchmarkTerminalThroughput: bytes from a real sandbox's shell, read from
// the Docker exec stream directly (the baseline) and through a terminal
// session and its websocket (what the browser gets).
func BenchmarkTerminalThroughput(b *testing.B) {
	testenv.RequireDocker(b)
	const size = 64 << 20
	cmd := fmt.Sprintf("stty raw -echo; head -c %d /dev/zero; printf '<<%%s>>' END; stty sane\n", size)
	p := newTermPlatform(b)
	id := p.student("term-bench", "term-password")
	key := sandbox.Key{UserID: id, Lab: e2eLab}
	spec := p.a.Labs.Spec(p.a.Server.Course.Lab(e2eLab).Primary)
	sb, err := p.a.Server.Sandboxes.Open(context.Background(), key, spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw-exec", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			tty, err := p.a.Engine.Shell(context.Background(), sb, 80, 24)
			if err != nil {
				b.Fatal(err)
			}
			tty.Write([]byte(cmd))
			buf := make([]byte, 32<<10)
			var tail []byte
			for !bytes.Contains(tail, []byte("<<END>>")) {
				n, err := tty.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				tail = append(tail[max(0, len(tail)-16):], buf[:n]...)
			}
			tty.Close()
		}
	})
	b.Run("session-websocket", func(b *testing.B) {
		b.SetBytes(size)
		cookie := p.login("term-bench", "term-password")
		for b.Loop() {
			c := p.dial(cookie, "tab=bench")
			c.Hello(terminal.HelloRequest{Fresh: true, Cols: 80, Rows: 24})
			c.Send(cmd)
			var tail []byte
			c.WS.SetReadDeadline(time.Now().Add(time.Minute))
			for !bytes.Contains(tail, []byte("<<END>>")) {
				typ, data, err := c.Next()
				if err != nil {
					b.Fatal(err)
				}
				if typ == terminal.Output {
					tail = append(tail[max(0, len(tail)-16):], data...)
				}
			}
			c.WS.Close()
		}
	})
}
