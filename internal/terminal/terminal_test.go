package terminal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"handson/internal/sandbox/sandboxtest"
)

func TestFrames(t *testing.T) {
	f := Encode(Input, []byte("ls\r"))
	typ, p, err := Decode(f)
	if err != nil || typ != Input || string(p) != "ls\r" {
		t.Fatalf("Decode(Encode) = %d %q %v", typ, p, err)
	}
	if _, _, err := Decode(nil); err == nil {
		t.Error("empty frame accepted")
	}
	typ, p, _ = Decode(EncodeSize(132, 43))
	cols, rows, err := DecodeSize(p)
	if typ != Resize || cols != 132 || rows != 43 || err != nil {
		t.Errorf("size round trip = %d %dx%d %v", typ, cols, rows, err)
	}
	for _, bad := range [][]byte{{0, 80}, {0, 0, 0, 24}, {0x10, 0, 0, 24}, {0, 80, 0, 0, 1}} {
		if _, _, err := DecodeSize(bad); err == nil {
			t.Errorf("DecodeSize(%v) accepted", bad)
		}
	}

	// Ack: 8 bytes, big-endian.
	f = EncodeAck(0x0102030405060708)
	if !bytes.Equal(f, []byte{Ack, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("EncodeAck = %v", f)
	}
	if off, err := DecodeAck(f[1:]); err != nil || off != 0x0102030405060708 {
		t.Errorf("DecodeAck = %x %v", off, err)
	}
	if _, err := DecodeAck([]byte{1, 2, 3}); err == nil {
		t.Error("short ack accepted")
	}

	// Hello: JSON both ways.
	f = EncodeHello(HelloRequest{Session: "abc_-9", Offset: 1 << 40, Cols: 80, Rows: 24})
	if f[0] != Hello {
		t.Fatalf("hello type %d", f[0])
	}
	h, err := DecodeHello(f[1:])
	if err != nil || h.Session != "abc_-9" || h.Offset != 1<<40 || h.Cols != 80 || h.Rows != 24 || h.Fresh {
		t.Errorf("hello round trip = %+v %v", h, err)
	}
	for _, bad := range []string{`{"session":"../x"}`, `{"cols":2000,"rows":3}`, `{"cols":80}`, `[]`, `{"offset":-1}`, `{"session":"` + strings.Repeat("a", 65) + `"}`} {
		if _, err := DecodeHello([]byte(bad)); err == nil {
			t.Errorf("DecodeHello(%s) accepted", bad)
		}
	}
	var st StatusMessage
	if err := json.Unmarshal(EncodeStatus("ready", "ok")[1:], &st); err != nil || st != (StatusMessage{State: "ready", Message: "ok"}) {
		t.Errorf("status = %+v %v", st, err)
	}
	// The terminal's own news carries its catalog key, and English for
	// clients without the catalog.
	st = StatusMessage{}
	if err := json.Unmarshal(statusFrame("closed", newsPrefix+"exited")[1:], &st); err != nil || st != (StatusMessage{State: "closed", Message: "The shell exited.", Code: "web.term.news.exited"}) {
		t.Errorf("news = %+v %v", st, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Input, []byte("x")))
	f.Add(EncodeSize(80, 24))
	f.Add(EncodeAck(12345))
	f.Add(EncodeHello(HelloRequest{Session: "s", Offset: 7, Cols: 80, Rows: 24}))
	f.Add([]byte{Hello, '{', '}'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		typ, p, err := Decode(frame)
		if err != nil {
			return
		}
		if !bytes.Equal(Encode(typ, p), frame) {
			t.Fatalf("Encode(Decode(%v)) differs", frame)
		}
		switch typ {
		case Resize:
			if cols, rows, err := DecodeSize(p); err == nil && !validSize(cols, rows) {
				t.Fatalf("DecodeSize accepted %dx%d", cols, rows)
			}
		case Ack:
			if off, err := DecodeAck(p); err == nil && !bytes.Equal(EncodeAck(off), frame) {
				t.Fatalf("ack %d does not round-trip", off)
			}
		case Hello:
			h, err := DecodeHello(p)
			if err != nil {
				return
			}
			if !sessionIDRe.MatchString(h.Session) || (h.Cols != 0 || h.Rows != 0) && !validSize(h.Cols, h.Rows) {
				t.Fatalf("DecodeHello accepted %+v", h)
			}
			h2, err := DecodeHello(EncodeHello(h)[1:])
			if err != nil || h2 != h {
				t.Fatalf("hello %+v does not round-trip: %+v %v", h, h2, err)
			}
		}
	})
}

func TestRing(t *testing.T) {
	r := newRing(1000)
	var all []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		p := make([]byte, rng.IntN(1500))
		for j := range p {
			p[j] = byte(rng.IntN(256))
		}
		r.write(p)
		all = append(all, p...)
		if r.end != uint64(len(all)) {
			t.Fatalf("end %d, wrote %d", r.end, len(all))
		}
		start := r.start()
		if want := max(0, len(all)-1000); start != uint64(want) {
			t.Fatalf("start %d, want %d", start, want)
		}
		off := start + uint64(rng.IntN(int(r.end-start)+1))
		buf := make([]byte, rng.IntN(1200)+1)
		n := r.read(buf, off)
		want := all[off:min(uint64(len(all)), off+uint64(len(buf)))]
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("read at %d: got %d bytes, want %d", off, n, len(want))
		}
	}
	if n := r.read(make([]byte, 10), r.start()-1); n != 0 {
		t.Errorf("read before start returned %d bytes", n)
	}
	r = newRing(16)
	r.write([]byte("0123456789\nabcdefghij"))
	if got := r.replayStart(); got != 11 {
		t.Errorf("replayStart = %d, want 11 (after the newline)", got)
	}
}

// harness serves a Registry over real websockets with local shells on a
// pty. Query parameters: owner, tab, view=1.
type harness struct {
	shell Shell // default: fakeShell
	reg   *Sessions
	srv   *httptest.Server
	fake  *sandboxtest.Fake
	done  chan error
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{reg: NewSessions(cfg), fake: &sandboxtest.Fake{ShellCmd: []string{"/bin/sh"}}, done: make(chan error, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		q := r.URL.Query()
		owner := q.Get("owner")
		if owner == "" {
			owner = "u1/lab"
		}
		var shell Shell = fakeShell{h.fake}
		if h.shell != nil {
			shell = h.shell
		}
		h.done <- h.reg.Serve(r.Context(), ws, Options{
			Owner: owner, Tab: q.Get("tab"), ReadOnly: q.Get("view") == "1", Record: q.Get("record") == "1",
			Shell: shell,
		})
	}))
	t.Cleanup(func() { h.srv.Close(); h.reg.Close() })
	return h
}

// fakeShell opens a local shell on a pty (the fake engine's).
type fakeShell struct{ fake *sandboxtest.Fake }

func (f fakeShell) Open(ctx context.Context, cols, rows uint, status func(string, string)) (TTY, error) {
	status("starting", "fake sandbox")
	return f.fake.Shell(ctx, nil, cols, rows)
}
func (fakeShell) Opened(context.Context, *Session) {}
func (fakeShell) Input()                           {}
func (fakeShell) Closed() string                   { return "" }

func (h *harness) dial(t testing.TB, query string) *Client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+"/?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return NewClient(ws)
}

// open dials and says Hello for a new or resumed session.
func (h *harness) open(t testing.TB, query string, req HelloRequest) *Client {
	t.Helper()
	c := h.dial(t, query)
	if req.Cols == 0 {
		req.Cols, req.Rows = 80, 24
	}
	if err := c.Hello(req); err != nil {
		t.Fatal(err)
	}
	c.Session = req.Session
	c.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, _, err := c.Next()
		if err != nil {
			t.Fatalf("no hello reply: %v", err)
		}
		if typ == Hello {
			break
		}
	}
	return c
}

func mustRead(t testing.TB, c *Client, want string) string {
	t.Helper()
	out, err := c.ReadUntil(want, 10*time.Second)
	if err != nil {
		t.Fatalf("%v; have %q", err, tail(out))
	}
	return out
}

func tail(s string) string {
	if len(s) > 400 {
		return "…" + s[len(s)-400:]
	}
	return s
}

// A client without a Hello (the benchmarks, old pages): RESIZE first, its
// own shell, ended with the websocket.
func TestServeWithoutHello(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.dial(t, "")
	// Input sent before the shell is up is kept and delivered in order.
	c.Send("echo one$((1))\n")
	c.Resize(90, 33)
	c.Send("echo two$((2)); stty size\n")
	out := mustRead(t, c, "33 90")
	if i, j := strings.Index(out, "one1"), strings.Index(out, "two2"); i < 0 || j < i {
		t.Errorf("input out of order or lost: %q", out)
	}
	if c.Last.Session != "" {
		t.Errorf("a client without hello got a hello reply %+v", c.Last)
	}
	c.Resize(100, 20)
	c.Send("echo $(stty size)x\n")
	mustRead(t, c, "20 100x")

	// The shell exits: a Status "closed", then a normal close, after the output.
	c.Send("echo bye$((3)); exit\n")
	out, err := c.ReadUntil("never", 10*time.Second)
	if !strings.Contains(out, "bye3") {
		t.Errorf("output before the exit lost: %q", out)
	}
	if closeCode(err) != websocket.CloseNormalClosure || c.Status.State != "closed" {
		t.Errorf("close = %v, status %+v; want status closed and a normal closure", err, c.Status)
	}
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the shell exited")
	}
}

// A client without a Hello that goes away takes its shell with it.
func TestServeEndsWhenBrowserLeaves(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.dial(t, "")
	c.Resize(80, 24)
	c.Send("echo up$((1))\n")
	mustRead(t, c, "up1")
	if n := len(h.reg.Sessions("")); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	c.WS.Close()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running after the websocket closed")
	}
	waitFor(t, "the session to end", func() bool { return len(h.reg.Sessions("")) == 0 })
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reload (offset 0) resumes the same shell and replays its output; a new
// tab has its own shell.
func TestReloadKeepsShell(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.open(t, "", HelloRequest{})
	if !c.Last.New || c.Session == "" || c.Last.Offset != 0 {
		t.Fatalf("first hello reply %+v, want a new session at 0", c.Last)
	}
	c.Send("echo pid=$$ mark$((6*7))\n")
	out := mustRead(t, c, "mark42")
	pid := pidOf(t, out)
	id := c.Session
	c.WS.Close()

	c2 := h.open(t, "", HelloRequest{Session: id, Offset: 0})
	if c2.Session != id || c2.Last.New || c2.Last.Offset != 0 {
		t.Fatalf("reload reply %+v, want session %s from 0", c2.Last, id)
	}
	out = mustRead(t, c2, "mark42") // the replay
	c2.Send("echo again=$$\n")
	out = mustRead(t, c2, "again="+pid)

	// Another tab: another shell.
	c3 := h.open(t, "tab=2", HelloRequest{})
	if c3.Session == id || !c3.Last.New {
		t.Fatalf("tab 2 reply %+v, want a new session", c3.Last)
	}
	c3.Send("echo tab2=$$\n")
	out = mustRead(t, c3, "tab2=")
	if strings.Contains(out, "tab2="+pid+"\r") {
		t.Error("tab 2 runs in tab 1's shell")
	}

	// A page that lost its id (another browser) still finds tab 1's shell.
	c4 := h.open(t, "", HelloRequest{Session: "unknown"})
	if c4.Session != id || !c4.Last.Replay {
		t.Errorf("hello with an unknown id: %+v, want tab 1's session %s as a replay", c4.Last, id)
	}
	// Someone else's session id is not resumed.
	c5 := h.open(t, "owner=u2/lab", HelloRequest{Session: id})
	if c5.Session == id {
		t.Error("another owner resumed the session by its id")
	}
}

// pidOf returns the number after "pid=" in s.
func pidOf(t testing.TB, s string) string {
	t.Helper()
	i := strings.Index(s, "pid=")
	if i < 0 {
		t.Fatalf("no pid in %q", s)
	}
	j := i + 4
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	return s[i+4 : j]
}

// A dropped connection in the middle of a flood loses and duplicates
// nothing: the resume continues at the client's offset.
func TestReconnectMidOutputIsExact(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.open(t, "", HelloRequest{})
	c.Send("stty -echo; echo start; seq 1 400000; echo end$((1))\n")
	var got bytes.Buffer
	collect := func(c *Client, until string, stopAfter int) {
		c.WS.SetReadDeadline(time.Now().Add(20 * time.Second))
		for !bytes.Contains(got.Bytes(), []byte(until)) && (stopAfter < 0 || got.Len() < stopAfter) {
			typ, p, err := c.Next()
			if err != nil {
				t.Fatalf("read: %v after %d bytes", err, got.Len())
			}
			if typ == Output {
				got.Write(p)
			}
		}
	}
	collect(c, "end1", 700_000)
	id, off := c.Session, c.Offset
	c.WS.Close() // no close handshake: a dropped network
	waitFor(t, "the server to see the drop", func() bool { return h.reg.Sessions("")[0].Students == 0 })

	c2 := h.dial(t, "")
	c2.Session, c2.Offset = id, off
	c2.Resume(80, 24)
	collect(c2, "end1", -1)
	if c2.Session != id || c2.Last.Replay || c2.Last.Offset != off {
		t.Fatalf("resume reply %+v, want session %s at %d without replay", c2.Last, id, off)
	}
	text := strings.ReplaceAll(got.String(), "\r\n", "\n")
	i := strings.Index(text, "start\n")
	j := strings.Index(text, "end1")
	if i < 0 || j < 0 {
		t.Fatalf("markers missing in %d bytes", len(text))
	}
	var want strings.Builder
	for n := 1; n <= 400000; n++ {
		want.WriteString(strconv.Itoa(n))
		want.WriteByte('\n')
	}
	if body := text[i+len("start\n") : j]; body != want.String() {
		t.Fatalf("output differs after a reconnect at %d: %d bytes, want %d", off, len(body), want.Len())
	}
	t.Logf("reconnected at offset %d of %d", off, c2.Offset)
}

// A client that does not acknowledge gets at most High bytes ahead; the
// TTY waits meanwhile. Ctrl-C during `yes` brings the prompt back.
func TestFlowControl(t *testing.T) {
	h := newHarness(t, Config{High: 128 << 10, Low: 32 << 10})
	c := h.open(t, "", HelloRequest{})
	c.AckEvery = -1
	c.Send("yes\n")
	mustRead(t, c, "y\r\ny\r\n") // the client reads nothing more meanwhile
	waitFor(t, "the TTY reader to pause", func() bool { return paused(h.reg.Session("u1/lab", "1")) })
	info := h.reg.Sessions("")[0]
	if info.Offset > uint64(128<<10+2*readChunk) || info.Offset < 64<<10 {
		t.Fatalf("the TTY was read up to %d without acks, want about the high watermark (128 KiB)", info.Offset)
	}
	time.Sleep(200 * time.Millisecond) // a window for a reader that ignored the pause
	if again := h.reg.Sessions("")[0]; again.Offset != info.Offset {
		t.Fatalf("the TTY is still read (%d, then %d) without acks", info.Offset, again.Offset)
	}
	// Acknowledge: the output flows again, more than the high watermark.
	c.AckEvery = 32 << 10
	c.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for from := c.Offset; c.Offset < from+256<<10; {
		if _, _, err := c.Next(); err != nil {
			t.Fatalf("the output did not flow again after acks: %v at %d", err, c.Offset)
		}
	}
	// Interrupt: the prompt comes back quickly.
	c.Send("\x03")
	c.Send("echo back$((40+2))\n")
	start := time.Now()
	mustRead(t, c, "back42")
	t.Logf("yes, Ctrl-C: prompt back %s after the interrupt (%d bytes of y)", time.Since(start), c.Offset)
}

// paused reports whether s's TTY reader waits for a client's acks.
func paused(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// Viewers see the student's output; their input and resizes are dropped;
// a viewer that does not read does not slow the student.
func TestViewer(t *testing.T) {
	h := newHarness(t, Config{})
	v := h.dial(t, "view=1")
	v.Hello(HelloRequest{Cols: 80, Rows: 24})
	if _, err := v.ReadUntil("never", 5*time.Second); closeCode(err) != websocket.CloseNormalClosure || v.Last.Session != "" || v.Status.State != "closed" {
		t.Fatalf("a viewer without a student session: %v %+v %+v", err, v.Last, v.Status)
	}
	s := h.open(t, "", HelloRequest{Cols: 100, Rows: 30})
	s.Send("echo hello$((1))\n")
	mustRead(t, s, "hello1")

	v = h.open(t, "view=1", HelloRequest{Cols: 50, Rows: 10})
	if v.Session != s.Session || !v.Last.ReadOnly {
		t.Fatalf("viewer reply %+v", v.Last)
	}
	mustRead(t, v, "hello1") // the replay
	v.Send("echo viewer$((2))\n")
	v.Resize(40, 5)
	time.Sleep(200 * time.Millisecond)
	s.Send("echo student$((3)) $(stty size) $((6*7))\n")
	out := mustRead(t, s, " 42\r")
	if strings.Contains(out, "viewer2") || !strings.Contains(out, "student3 30 100 42") {
		t.Errorf("viewer input or resize reached the shell: %q", out)
	}
	mustRead(t, v, "student3")

	// A second viewer that never reads; the student's flood completes.
	stuck := h.open(t, "view=1", HelloRequest{})
	_ = stuck
	s.Send("seq 1 1000000; echo done$((4))\n")
	start := time.Now()
	mustRead(t, s, "done4")
	t.Logf("seq 1 1000000 (6.9 MB) with a stuck viewer: %s", time.Since(start))
	// The stuck viewer, reading at last, is moved ahead with a replay.
	out = mustRead(t, stuck, "done4")
	if stuck.Last.Offset == 0 || !stuck.Last.Replay {
		t.Errorf("the stuck viewer was not moved ahead: %+v", stuck.Last)
	}
}

// The session outlives its websocket for the grace period, then ends; a
// fresh Hello replaces it at once.
func TestGraceAndFresh(t *testing.T) {
	h := newHarness(t, Config{Grace: 300 * time.Millisecond})
	c := h.open(t, "", HelloRequest{})
	id := c.Session
	c.Send("echo x$((1))\n")
	mustRead(t, c, "x1")
	c.WS.Close()
	waitFor(t, "the server to see the close", func() bool {
		ss := h.reg.Sessions("u1/lab")
		return len(ss) == 0 || ss[0].Students == 0
	})
	if h.reg.Session("u1/lab", "1") == nil {
		t.Fatal("the session ended with its websocket, before its grace period")
	}
	waitFor(t, "the grace period to end the session", func() bool { return h.reg.Session("u1/lab", "1") == nil })
	c2 := h.open(t, "", HelloRequest{Session: id, Offset: c.Offset})
	if c2.Session == id || !c2.Last.New {
		t.Fatalf("after the grace period: %+v, want a new session", c2.Last)
	}

	// Fresh: a new shell, and the old one's other window is told.
	other := h.open(t, "", HelloRequest{Session: c2.Session})
	c3 := h.open(t, "", HelloRequest{Session: c2.Session, Fresh: true})
	if c3.Session == c2.Session || !c3.Last.New {
		t.Fatalf("fresh hello: %+v", c3.Last)
	}
	_, err := other.ReadUntil("never", 5*time.Second)
	if closeCode(err) != websocket.CloseNormalClosure || !strings.Contains(other.Status.Message, "replaced") {
		t.Errorf("the replaced session's window: %v %+v", err, other.Status)
	}
}

// Sessions opened with Record write asciicast v2.
func TestRecording(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Config{RecordDir: dir})
	c := h.open(t, "record=1", HelloRequest{Cols: 90, Rows: 20})
	if !c.Last.Recording {
		t.Errorf("the hello reply does not announce the recording: %+v", c.Last)
	}
	c.Send("echo こんにちは$((1))\n")
	mustRead(t, c, "こんにちは1")
	c.Resize(100, 30)
	c.Send("echo $(stty size)x\n") // read after the resize, answered after it
	mustRead(t, c, "30 100x")
	h.reg.Session("u1/lab", "1").End("bye")
	waitFor(t, "the end", func() bool { return h.reg.Session("u1/lab", "1") == nil })
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.cast"))
	if len(files) != 1 {
		t.Fatalf("recordings: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var hdr struct{ Version, Width, Height int }
	if err := json.Unmarshal([]byte(lines[0]), &hdr); err != nil || hdr.Version != 2 || hdr.Width != 90 || hdr.Height != 20 {
		t.Errorf("header %s: %+v %v", lines[0], hdr, err)
	}
	var text strings.Builder
	var resized bool
	for _, l := range lines[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event %s: %v", l, err)
		}
		switch ev[1] {
		case "o":
			text.WriteString(ev[2].(string))
		case "r":
			resized = resized || ev[2] == "100x30"
		}
	}
	if !strings.Contains(text.String(), "こんにちは1") || !resized {
		t.Errorf("recording lacks the output or the resize: %q resized=%v", text.String(), resized)
	}
}

// Closing the registry ends every session and its websockets.
func TestRegistryClose(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.open(t, "", HelloRequest{})
	c.Send("echo x$((1))\n")
	mustRead(t, c, "x1")
	done := make(chan struct{})
	go func() { h.reg.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	_, err := c.ReadUntil("never", 5*time.Second)
	if closeCode(err) != websocket.CloseGoingAway {
		t.Errorf("close = %v, want going away", err)
	}
}

func BenchmarkThroughput(b *testing.B) {
	const size = 64 << 20
	cmd := fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; echo; echo done$((1))\n", size)
	b.Run("raw-pty", func(b *testing.B) {
		b.SetBytes(size)
		fake := &sandboxtest.Fake{ShellCmd: []string{"/bin/sh"}}
		for b.Loop() {
			tty, err := fake.Shell(context.Background(), nil, 80, 24)
			if err != nil {
				b.Fatal(err)
			}
			tty.Write([]byte("stty -echo\n" + cmd))
			buf := make([]byte, readChunk)
			var seen []byte
			for !bytes.Contains(seen, []byte("done1")) {
				n, err := tty.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				seen = append(seen[max(0, len(seen)-16):], buf[:n]...)
			}
			tty.Close()
		}
	})
	b.Run("session-websocket", func(b *testing.B) {
		b.SetBytes(size)
		h := newHarness(b, Config{})
		for b.Loop() {
			c := h.open(b, "tab=b", HelloRequest{Fresh: true})
			c.Send("stty -echo\n" + cmd)
			var seen []byte
			c.WS.SetReadDeadline(time.Now().Add(time.Minute))
			for !bytes.Contains(seen, []byte("done1")) {
				typ, p, err := c.Next()
				if err != nil {
					b.Fatal(err)
				}
				if typ == Output {
					seen = append(seen[max(0, len(seen)-16):], p...)
				}
			}
			c.WS.Close()
		}
	})
}

// queuedShell's Open waits as a sandbox waiting in line to start does,
// until its session gives up.
type queuedShell struct{ left chan struct{} }

func (q queuedShell) Open(ctx context.Context, cols, rows uint, status func(string, string)) (TTY, error) {
	status("starting", "number 1 in line")
	<-ctx.Done()
	close(q.left)
	return nil, ctx.Err()
}
func (queuedShell) Opened(context.Context, *Session) {}
func (queuedShell) Input()                           {}
func (queuedShell) Closed() string                   { return "" }

// A student who closes the tab while their sandbox waits in line leaves
// the line after OpeningGrace, not after the 5 minutes a running shell
// is kept; a reload within it keeps the place.
func TestClosedTabLeavesTheLine(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, OpeningGrace: 300 * time.Millisecond})
	left := make(chan struct{})
	h.shell = queuedShell{left}
	c := h.open(t, "tab=1", HelloRequest{})
	id := c.Session
	if id == "" {
		t.Fatal("no session id in the hello reply")
	}
	c.WS.Close()
	// A reload at once: the same session, still waiting.
	c = h.open(t, "tab=1", HelloRequest{Session: id})
	if c.Session != id {
		t.Fatalf("after a quick reload: session %q, want %q", c.Session, id)
	}
	select {
	case <-left:
		t.Fatal("the reload lost its place in line")
	case <-time.After(500 * time.Millisecond):
	}
	start := time.Now()
	c.WS.Close()
	select {
	case <-left:
		t.Logf("left the line %s after the tab closed", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the closed tab is still in line")
	}
}

// TestPreopen: a shell opened ahead (a class prepared) is the tab's: the
// student's first page attaches to it and finds its output there; it
// waits for that student only so long; a tab with a shell keeps it.
func TestPreopen(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	opts := Options{Shell: fakeShell{h.fake}}
	if err := h.reg.Preopen("u1/lab", "1", 80, 24, opts, time.Minute); err != nil {
		t.Fatal(err)
	}
	s := h.reg.Session("u1/lab", "1")
	if s == nil {
		t.Fatal("no session for the tab after Preopen")
	}
	s.input([]byte("echo pid=$$ ahead$((6*7))\n"))
	waitFor(t, "the preopened shell's output", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return strings.Contains(string(s.ring.buf), "ahead42")
	})
	c := h.open(t, "", HelloRequest{})
	if c.Session != s.ID() || c.Last.New {
		t.Fatalf("the student's first page: %+v, want the preopened session %s", c.Last, s.ID())
	}
	pid := pidOf(t, mustRead(t, c, "ahead42"))
	c.Send("echo mine=$$\n")
	mustRead(t, c, "mine="+pid)

	// A tab that has a shell keeps it.
	if err := h.reg.Preopen("u1/lab", "1", 80, 24, opts, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := h.reg.Session("u1/lab", "1"); got != s {
		t.Errorf("Preopen replaced the tab's session")
	}

	// Nobody comes: it ends after its wait, not the grace period.
	if err := h.reg.Preopen("u2/lab", "1", 80, 24, opts, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if h.reg.Session("u2/lab", "1") == nil {
		t.Fatal("no session after Preopen")
	}
	waitFor(t, "the unclaimed session to end", func() bool { return h.reg.Session("u2/lab", "1") == nil })
}
