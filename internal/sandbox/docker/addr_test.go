package docker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"handson/internal/sandbox"
)

// TestAddr is the web preview's path on the real daemon: what the student
// publishes with the inner docker run -p answers on the sandbox's address,
// from the host.
func TestAddr(t *testing.T) {
	key := sandbox.Key{UserID: 999004, Lab: "addr-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := e.Addr(ctx, key); !errors.Is(err, sandbox.ErrNotRunning) {
		t.Fatalf("Addr of a missing sandbox: %v, want ErrNotRunning", err)
	}
	sb, err := ensureReady(ctx, e, key, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "run", "-d", "-p", "8080:8080", "busybox",
		"sh", "-c", "mkdir /www && echo preview-ok >/www/index.html && exec httpd -f -p 8080 -h /www"}, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("inner docker run -p: %v %+v", err, res)
	}
	addr, err := e.Addr(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + netip.AddrPortFrom(addr, 8080).String() + "/"
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if string(body) != "preview-ok\n" {
		t.Fatalf("GET %s = %q, want preview-ok", url, body)
	}
	if err := e.Stop(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Addr(ctx, key); !errors.Is(err, sandbox.ErrNotRunning) {
		t.Fatalf("Addr of a stopped sandbox: %v, want ErrNotRunning", err)
	}
}
