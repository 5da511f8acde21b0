package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/terminal"
)

// TestPrepareClass: the teacher prepares the demo lab for the class; every
// student's own sandbox starts (prepared, ready), the page follows, a
// second prepare of a running class is refused, and a class that would not
// fit in memory is refused with the numbers.
func TestPrepareClass(t *testing.T) {
	e, class := classEnv(t)
	ctx := context.Background()
	bob, _ := e.db.UserByUsername(ctx, "bob")
	e.db.Join(ctx, class.ID, bob.ID, store.RoleStudent)
	alice, _ := e.db.UserByUsername(ctx, "alice")
	c := e.login(t, "teacher")
	base := e.url + "/classes/" + itoa(class.ID)

	// Memory for one sandbox only (above the reserve): two would start.
	p := sandbox.DefaultPolicy()
	e.fake.SetMemory(sandbox.Capacity{Available: p.MemReserve + p.MemFloor + 1})
	res, body := postForm(t, c, base+"/prepare", url.Values{"lab": {"demo"}})
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "2 sandboxes would start, and the server has room for about 1") {
		t.Fatalf("prepare with room for one: %d %s", res.StatusCode, body)
	}
	if ensured, _, _, _ := e.fake.Calls(); len(ensured) != 0 {
		t.Fatalf("sandboxes started although refused: %v", ensured)
	}

	e.fake.SetMemory(sandbox.Capacity{Available: 64 << 30})
	hold := make(chan struct{})
	prepared := make(chan sandbox.Key, 2)
	e.srv.Sandboxes.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		prepared <- sb.Key
		<-hold
		return nil
	}
	res, _ = postForm(t, c, base+"/prepare", url.Values{"lab": {"demo"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("prepare: %d", res.StatusCode)
	}
	got := map[sandbox.Key]bool{}
	for range 2 {
		select {
		case k := <-prepared:
			got[k] = true
		case <-time.After(10 * time.Second):
			t.Fatal("the students' sandboxes were not started")
		}
	}
	for _, id := range []int64{alice.ID, bob.ID} {
		if !got[sandbox.Key{UserID: id, Lab: "demo"}] {
			t.Errorf("user %d's own sandbox was not started: %v", id, got)
		}
	}
	if _, page := get(t, c, base); !strings.Contains(page, "Preparing demo: 0 of 2 sandboxes ready") {
		t.Error("the class page does not show the running preparation")
	}
	if res, _ := postForm(t, c, base+"/prepare", url.Values{"lab": {"demo"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("a second prepare while running: %d, want 409", res.StatusCode)
	}
	close(hold)
	var pr preparation
	for deadline := time.Now().Add(10 * time.Second); !pr.Done; time.Sleep(20 * time.Millisecond) {
		res, body := get(t, c, base+"/prepare")
		if res.StatusCode != 200 {
			t.Fatalf("status: %d", res.StatusCode)
		}
		json.Unmarshal([]byte(body), &pr)
		if time.Now().After(deadline) {
			t.Fatalf("not done: %+v", pr)
		}
	}
	if pr.Ready != 2 || pr.Failed != 0 || pr.Total != 2 || pr.Lab != "demo" {
		t.Errorf("done: %+v", pr)
	}
	// Each student's first terminal is open already: their page attaches
	// to it and finds the prompt, no new shell.
	for _, id := range []int64{alice.ID, bob.ID} {
		if e.srv.Terminals.Session(terminalOwner(id, "demo"), "1") == nil {
			t.Errorf("user %d has no terminal opened ahead", id)
		}
	}
	ahead := e.srv.Terminals.Session(terminalOwner(alice.ID, "demo"), "1")
	tc := openTerminal(t, e, e.login(t, "alice"), "", terminal.HelloRequest{})
	if ahead == nil || tc.Session != ahead.ID() || tc.Last.New {
		t.Errorf("alice's page: %+v, want the terminal opened ahead", tc.Last)
	}
	tc.Send("echo x$((6*7))\n")
	if _, err := tc.ReadUntil("x42", 10*time.Second); err != nil {
		t.Error(err)
	}

	// Everyone's is running: nothing to prepare.
	if res, body := postForm(t, c, base+"/prepare", url.Values{"lab": {"demo"}}); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "running already") {
		t.Errorf("prepare again: %d %s", res.StatusCode, body)
	}
	// A student may not prepare the class; another teacher neither.
	for _, who := range []string{"alice", "outsider"} {
		if res, _ := postForm(t, e.login(t, who), base+"/prepare", url.Values{"lab": {"demo"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s prepares: %d, want 403", who, res.StatusCode)
		}
	}
}
