package terminal

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
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
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Input, []byte("x")))
	f.Add(EncodeSize(80, 24))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		typ, p, err := Decode(frame)
		if err != nil {
			return
		}
		if !bytes.Equal(Encode(typ, p), frame) {
			t.Fatalf("Encode(Decode(%v)) differs", frame)
		}
		if typ == Resize {
			if cols, rows, err := DecodeSize(p); err == nil && (cols == 0 || rows == 0 || cols > 1000 || rows > 1000) {
				t.Fatalf("DecodeSize accepted %dx%d", cols, rows)
			}
		}
	})
}

// serveLocal serves Serve over a real websocket with a local shell on a pty.
func serveLocal(t *testing.T) (*websocket.Conn, chan error) {
	t.Helper()
	fake := &sandboxtest.Fake{}
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		done <- Serve(r.Context(), ws, Options{Open: func(ctx context.Context, cols, rows uint, status func(string, string)) (TTY, error) {
			status("starting", "fake sandbox")
			return fake.Shell(ctx, nil, cols, rows)
		}})
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws, done
}

func readUntil(t *testing.T, ws *websocket.Conn, want string) string {
	t.Helper()
	var out strings.Builder
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), want) {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v; want %q, have %q", err, want, out.String())
		}
		if typ, p, _ := Decode(msg); typ == Output {
			out.Write(p)
		}
	}
	return out.String()
}

func TestServe(t *testing.T) {
	ws, done := serveLocal(t)
	defer ws.Close()
	// Input sent before the shell is up is kept and delivered in order.
	ws.WriteMessage(websocket.BinaryMessage, Encode(Input, []byte("echo one$((1))\n")))
	ws.WriteMessage(websocket.BinaryMessage, EncodeSize(90, 33))
	ws.WriteMessage(websocket.BinaryMessage, Encode(Input, []byte("echo two$((2)); stty size\n")))
	out := readUntil(t, ws, "33 90")
	if i, j := strings.Index(out, "one1"), strings.Index(out, "two2"); i < 0 || j < i {
		t.Errorf("input out of order or lost: %q", out)
	}
	ws.WriteMessage(websocket.BinaryMessage, EncodeSize(100, 20))
	ws.WriteMessage(websocket.BinaryMessage, Encode(Input, []byte("echo $(stty size)x\n")))
	readUntil(t, ws, "20 100x")

	// The shell exits: a normal close, after the output.
	ws.WriteMessage(websocket.BinaryMessage, Encode(Input, []byte("exit\n")))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("close = %v, want normal closure", err)
			}
			break
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the shell exited")
	}
}

// A browser that goes away must not leave Serve (and the shell) behind.
func TestServeEndsWhenBrowserLeaves(t *testing.T) {
	ws, done := serveLocal(t)
	ws.WriteMessage(websocket.BinaryMessage, EncodeSize(80, 24))
	ws.WriteMessage(websocket.BinaryMessage, Encode(Input, []byte("echo up$((1))\n")))
	readUntil(t, ws, "up1")
	ws.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running after the websocket closed")
	}
}
