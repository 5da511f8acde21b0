package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"handson/internal/apperr"
	"handson/internal/sandbox"
	"handson/internal/sandbox/sandboxtest"
	"handson/internal/store"
)

var (
	alice = sandbox.Key{UserID: 1, Lab: "lab"}
	bob   = sandbox.Key{UserID: 2, Lab: "lab"}
	ctx   = context.Background()
)

func newManager(t *testing.T, p sandbox.Policy) (*sandbox.Manager, *sandboxtest.Fake, *store.DB) {
	t.Helper()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, name := range []string{"alice", "bob"} {
		if err := db.CreateUser(ctx, &store.User{Username: name, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	fake := &sandboxtest.Fake{}
	return sandbox.NewManager(fake, db, p, slog.New(slog.NewTextHandler(io.Discard, nil))), fake, db
}

// clock is a manager's time in a test: it stands still until the test
// moves it, so idleness and age need no sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func setClock(m *sandbox.Manager) *clock {
	c := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	m.SetClock(c.now)
	return c
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func record(t *testing.T, db *store.DB, k sandbox.Key) (sandbox.Record, bool) {
	t.Helper()
	recs, err := db.Sandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Key == k {
			return r, true
		}
	}
	return sandbox.Record{}, false
}

func next(t *testing.T, ch <-chan sandbox.Event, kind string) sandbox.Event {
	t.Helper()
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %s event", kind)
		}
	}
}

func TestOpenRecordsAndStreamsProgress(t *testing.T) {
	m, _, db := newManager(t, sandbox.DefaultPolicy())
	events, cancel := m.Subscribe(alice)
	defer cancel()
	var phases []sandbox.Phase
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, func(ev sandbox.Event) { phases = append(phases, ev.Phase) }); err != nil {
		t.Fatal(err)
	}
	if len(phases) != 4 || phases[3] != sandbox.Ready {
		t.Errorf("progress = %v", phases)
	}
	if ev := next(t, events, sandbox.KindPhase); ev.Phase != sandbox.Creating {
		t.Errorf("first event = %+v, want the creating phase", ev)
	}
	if r, ok := record(t, db, alice); !ok || r.State != sandbox.Running {
		t.Errorf("record = %+v, %v; want running", r, ok)
	}
}

// holdStarts makes every new sandbox's start hold its slot until the
// returned func is called: the slot is held until the sandbox is ready,
// and a new one is prepared first.
func holdStarts(m *sandbox.Manager) (release func()) {
	hold := make(chan struct{})
	m.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		select {
		case <-hold:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return func() { close(hold) }
}

// TestStartQueue: with the only start slot taken, the next student waits
// in line, hears their place, and starts when the slot frees; a running
// sandbox needs no slot; two opens of one sandbox start it once.
func TestStartQueue(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.MaxStarts = 1
	m, fake, _ := newManager(t, p)
	release := holdStarts(m)
	prepared := 0
	prepare := m.Prepare
	m.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		prepared++
		return prepare(ctx, sb)
	}
	_, ready, err := m.Start(ctx, alice, sandbox.Spec{}, nil) // alice takes the only start slot
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := m.Subscribe(bob)
	defer cancel()
	bobs := make(chan error, 2)
	for range 2 { // bob opens two tabs at once
		go func() {
			_, err := m.Open(ctx, bob, sandbox.Spec{}, nil)
			bobs <- err
		}()
	}
	ev := next(t, events, sandbox.KindQueued)
	if ev.Code != "queued" || len(ev.Args) != 2 || ev.Args[0] != "1" || !strings.Contains(ev.Message, "number 1 in line") {
		t.Errorf("bob's place: %+v", ev)
	}
	if _, waiting, _ := m.StartLoad(); waiting != 1 {
		t.Errorf("%d waiting, want bob once", waiting)
	}
	if ev, ok := m.Recent(bob, time.Minute); ok {
		t.Errorf("Recent = %+v: a place in line is not why a shell ended", ev)
	}
	release()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-bobs; err != nil {
			t.Errorf("bob after alice's start: %v", err)
		}
	}
	if prepared != 2 {
		t.Errorf("prepared %d times, want alice's and bob's once each", prepared)
	}
	ensured, _, _, _ := fake.Calls()
	n := 0
	for _, k := range ensured {
		if k == bob {
			n++
		}
	}
	if n != 2 { // the second tab finds it running: Ensure is a no-op then
		t.Errorf("bob's sandbox ensured %d times, want 2", n)
	}

	// A running sandbox needs no start slot.
	release = holdStarts(m)
	carol := sandbox.Key{UserID: 1, Lab: "other"}
	if _, ready, err = m.Start(ctx, carol, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Errorf("alice's running sandbox while carol's starts: %v", err)
	}

	// Leaving the line: a student who gave up is not started.
	dave := sandbox.Key{UserID: 4, Lab: "lab"}
	leave, cancelDave := context.WithCancel(ctx)
	daves := make(chan error, 1)
	go func() { _, err := m.Open(leave, dave, sandbox.Spec{}, nil); daves <- err }()
	for _, w, _ := m.StartLoad(); w == 0; _, w, _ = m.StartLoad() {
		time.Sleep(time.Millisecond)
	}
	cancelDave()
	if err := <-daves; !errors.Is(err, context.Canceled) {
		t.Errorf("dave left the line: %v", err)
	}
	release()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	ensured, _, _, _ = fake.Calls()
	for _, k := range ensured {
		if k == dave {
			t.Error("dave's sandbox was started after he left")
		}
	}
	if r, w, _ := m.StartLoad(); r != 0 || w != 0 {
		t.Errorf("after all: %d starting, %d waiting", r, w)
	}
}

func TestIdleStopAndResume(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.IdleStop = 30 * time.Minute
	m, fake, db := newManager(t, p)
	clk := setClock(m)
	events, cancel := m.Subscribe(alice)
	defer cancel()
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	m.Open(ctx, bob, sandbox.Spec{}, nil)
	for i := range 4 { // alice types; bob does nothing
		clk.advance(10 * time.Minute)
		m.Touch(alice)
		if err := m.Sweep(ctx, false); err != nil {
			t.Fatal(err)
		}
		if _, stopped, _, _ := fake.Calls(); i < 3 && len(stopped) != 0 {
			t.Fatalf("stopped %v after %d minutes, before the idle time", stopped, 10*(i+1))
		}
	}
	_, stopped, _, _ := fake.Calls()
	if len(stopped) != 1 || stopped[0] != bob {
		t.Fatalf("stopped = %v, want only bob (alice was active)", stopped)
	}
	if r, _ := record(t, db, bob); r.State != sandbox.Stopped {
		t.Errorf("bob's record = %+v, want stopped", r)
	}
	clk.advance(31 * time.Minute)
	m.Sweep(ctx, false)
	if ev := next(t, events, sandbox.KindStopped); !strings.Contains(ev.Message, "files are kept") {
		t.Errorf("stop message %q", ev.Message)
	}
	if ev, ok := m.Recent(alice, time.Minute); !ok || ev.Kind != sandbox.KindStopped {
		t.Errorf("Recent = %+v %v", ev, ok)
	}
	// Resuming starts it again and marks it running.
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := record(t, db, alice); r.State != sandbox.Running {
		t.Errorf("after resume: %+v", r)
	}
}

// TestProbesTakeTurns: each sandbox is probed once every ProbeEvery
// sweeps, the probes spread over them; one whose probe failed is probed
// again at the next sweep, whoever's turn it is.
func TestProbesTakeTurns(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.ProbeEvery = 4
	m, fake, db := newManager(t, p)
	var keys []sandbox.Key
	for i := range 12 {
		u := &store.User{Username: fmt.Sprint("student", i), PasswordHash: "x"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		k := sandbox.Key{UserID: u.ID, Lab: "lab"}
		keys = append(keys, k)
		if _, err := m.Open(ctx, k, sandbox.Spec{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	perTurn := map[int]int{}
	for turn := range 4 {
		before := len(fake.Probes())
		if err := m.SweepTurn(ctx, turn); err != nil {
			t.Fatal(err)
		}
		perTurn[turn] = len(fake.Probes()) - before
	}
	probed := map[sandbox.Key]int{}
	for _, k := range fake.Probes() {
		probed[k]++
	}
	for _, k := range keys {
		if probed[k] != 1 {
			t.Errorf("%v probed %d times in 4 sweeps, want once", k, probed[k])
		}
	}
	if perTurn[0] == len(keys) {
		t.Errorf("probes per sweep %v: all in one sweep, not spread", perTurn)
	}

	fake.SetProbe(errors.New("exec failed"))
	var failed []sandbox.Key
	turn := 0
	for ; len(failed) == 0; turn++ {
		before := len(fake.Probes())
		m.SweepTurn(ctx, turn%4)
		failed = fake.Probes()[before:]
	}
	fake.SetProbe(nil)
	before := len(fake.Probes())
	m.SweepTurn(ctx, turn%4) // the next turn: not theirs
	again := fake.Probes()[before:]
	for _, k := range failed {
		if !slices.Contains(again, k) {
			t.Errorf("%v failed its probe and was not probed again at the next sweep (probed: %v)", k, again)
		}
	}
}

// TestOpenReadyNeedsNoProbe: opening a sandbox found ready since it last
// started asks the engine for no readiness probe (one exec each, which a
// prepared class opening at once pays forty times); one that was stopped,
// or failed a probe, is probed again.
func TestOpenReadyNeedsNoProbe(t *testing.T) {
	m, fake, _ := newManager(t, sandbox.DefaultPolicy())
	for range 3 {
		if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.Waits(); n != 1 {
		t.Fatalf("3 opens of a ready sandbox: %d readiness probes, want 1", n)
	}
	fake.SetProbe(errors.New("exec failed"))
	m.Sweep(ctx, false)
	fake.SetProbe(nil)
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := fake.Waits(); n != 2 {
		t.Errorf("open after a failed probe: %d readiness probes in all, want 2", n)
	}
	if err := m.Reset(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := fake.Waits(); n != 3 {
		t.Errorf("open after a reset: %d readiness probes in all, want 3", n)
	}
}

func TestRecovery(t *testing.T) {
	m, fake, _ := newManager(t, sandbox.DefaultPolicy())
	events, cancel := m.Subscribe(alice)
	defer cancel()
	m.Open(ctx, alice, sandbox.Spec{}, nil)

	fake.SetProbe(errors.New("exec failed: read init-p: connection reset by peer"))
	m.Sweep(ctx, false)
	if _, _, restarted, _ := fake.Calls(); len(restarted) != 0 {
		t.Fatal("restarted after one failed probe")
	}
	m.Sweep(ctx, false)
	if _, _, restarted, _ := fake.Calls(); len(restarted) != 1 {
		t.Fatalf("restarted = %v after two failed probes, want alice", restarted)
	}
	if ev := next(t, events, sandbox.KindRecovered); !strings.Contains(ev.Message, "could no longer start any program") {
		t.Errorf("message %q", ev.Message)
	}
	fake.SetProbe(nil)

	// Answering, but with its process table full: a fork bomb.
	fake.SetProbe(fmt.Errorf("%w: 510 of 512 processes", sandbox.ErrProcessesFull))
	m.Sweep(ctx, false)
	m.Sweep(ctx, false)
	if ev := next(t, events, sandbox.KindRecovered); !strings.Contains(ev.Message, "fork bomb") {
		t.Errorf("message %q", ev.Message)
	}
	fake.SetProbe(nil)

	// Its main process killed for memory: restarted, and the student told why.
	fake.Set(alice, func(st *sandbox.Status) { st.State, st.OOMKilled = sandbox.Stopped, true })
	m.Sweep(ctx, false)
	if ev := next(t, events, sandbox.KindRecovered); !strings.Contains(ev.Message, "ran out of memory") {
		t.Errorf("message %q", ev.Message)
	}
}

// TestStaleProbeIsVoid: a probe that began before the sandbox was reset
// (hung on the fork bomb the reset cleared) answers after it; its verdict
// is on the sandbox that was, and must not restart the fresh one (it did,
// closing the student's shell).
func TestStaleProbeIsVoid(t *testing.T) {
	m, fake, _ := newManager(t, sandbox.DefaultPolicy())
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	fake.SetProbe(fmt.Errorf("%w: 510 of 512 processes", sandbox.ErrProcessesFull))
	m.Sweep(ctx, false) // one failed probe: not yet restarted
	hung := make(chan struct{})
	fake.HoldProbes(hung)
	swept := make(chan error)
	go func() { swept <- m.Sweep(ctx, false) }()
	for len(fake.Probes()) < 2 {
		time.Sleep(time.Millisecond)
	}
	fake.HoldProbes(nil)
	fake.SetProbe(nil)
	if err := m.Reset(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	close(hung)
	if err := <-swept; err != nil {
		t.Fatal(err)
	}
	if _, _, restarted, _ := fake.Calls(); len(restarted) != 0 {
		t.Errorf("the fresh sandbox was restarted on the old one's probe")
	}
}

// TestSlowIsNotRecovered: the false recovery of a class's first minute. A
// sandbox still starting, or whose Docker answers slowly on a busy host,
// is never restarted (that closed students' shells); only evidence that a
// restart fixes counts.
func TestSlowIsNotRecovered(t *testing.T) {
	m, fake, _ := newManager(t, sandbox.DefaultPolicy())
	events, cancel := m.Subscribe(alice)
	defer cancel()
	restarted := func() int {
		_, _, r, _ := fake.Calls()
		return len(r)
	}

	// Starting: its Docker is not up yet (Prepare waits here as the real
	// one waits for it), and every probe fails.
	preparing, finish := make(chan struct{}), make(chan struct{})
	m.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		close(preparing)
		<-finish
		return nil
	}
	_, ready, err := m.Start(ctx, alice, sandbox.Spec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-preparing
	fake.SetProbe(errors.New("exec failed: read init-p: connection reset by peer"))
	for range 5 {
		m.Sweep(ctx, false)
	}
	if n := restarted(); n != 0 {
		t.Fatalf("a sandbox still starting was restarted %d times", n)
	}
	close(finish)
	if err := <-ready; err != nil {
		t.Fatal(err)
	}

	// Ready, then slow: its Docker does not answer in time, many sweeps.
	fake.SetProbe(fmt.Errorf("%w: handson-ready: not ready: inner docker daemon not answering", sandbox.ErrSlow))
	for range 10 {
		m.Sweep(ctx, false)
	}
	if n := restarted(); n != 0 {
		t.Fatalf("a slow sandbox was restarted %d times", n)
	}
	for len(events) > 0 {
		if ev := <-events; ev.Kind != sandbox.KindPhase {
			t.Fatalf("the student was told %+v", ev)
		}
	}

	// The same sandbox, once ready, is judged: nothing runs in it any more.
	fake.SetProbe(errors.New("exec failed: read init-p: connection reset by peer"))
	m.Sweep(ctx, false)
	m.Sweep(ctx, false)
	if n := restarted(); n != 1 {
		t.Fatalf("restarted %d times after two failed execs once ready, want 1", n)
	}
}

func TestDiskLimit(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.DiskLimit = 1 << 30
	m, fake, _ := newManager(t, p)
	events, cancel := m.Subscribe(alice)
	defer cancel()
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	fake.Set(alice, func(st *sandbox.Status) { st.DiskBytes = 3 << 29 })
	m.Sweep(ctx, true)
	if _, stopped, _, _ := fake.Calls(); len(stopped) != 1 {
		t.Fatalf("stopped = %v, want alice over the disk limit", stopped)
	}
	if ev := next(t, events, sandbox.KindDisk); !strings.Contains(ev.Message, "1.5 GiB") || !strings.Contains(ev.Message, "1.0 GiB") {
		t.Errorf("message %q should give the usage and the limit", ev.Message)
	}
}

func TestMaxAgeAndReset(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.MaxAge = 24 * time.Hour
	m, fake, db := newManager(t, p)
	clk := setClock(m)
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	clk.advance(20 * time.Hour)
	m.Open(ctx, bob, sandbox.Spec{}, nil)
	clk.advance(5 * time.Hour)
	m.Sweep(ctx, false)
	if _, _, _, removed := fake.Calls(); len(removed) != 1 || removed[0] != alice {
		t.Fatalf("removed = %v, want alice (too old)", removed)
	}
	if _, ok := record(t, db, alice); ok {
		t.Error("alice's record kept after removal")
	}
	if err := m.Reset(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if _, ok := record(t, db, bob); ok {
		t.Error("bob's record kept after reset")
	}
}

func TestAdopt(t *testing.T) {
	m, fake, db := newManager(t, sandbox.DefaultPolicy())
	carol := sandbox.Key{UserID: 1, Lab: "other"}
	// alice: recorded and running (adopted); bob: running, unknown (orphan);
	// carol: recorded, gone (forgotten).
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	m.Open(ctx, carol, sandbox.Spec{}, nil)
	fake.Set(bob, func(st *sandbox.Status) { st.State = sandbox.Running })
	fake.Set(carol, func(st *sandbox.Status) { st.State = sandbox.Missing })
	fake.Set(alice, func(st *sandbox.Status) { st.State = sandbox.Stopped }) // the host rebooted

	adopted, reaped, err := m.Adopt(ctx)
	if err != nil || adopted != 1 || reaped != 1 {
		t.Fatalf("Adopt = %d, %d, %v; want 1 adopted, 1 reaped", adopted, reaped, err)
	}
	if _, _, _, removed := fake.Calls(); len(removed) != 1 || removed[0] != bob {
		t.Errorf("removed = %v, want the orphan bob", removed)
	}
	if r, ok := record(t, db, alice); !ok || r.State != sandbox.Stopped {
		t.Errorf("alice = %+v, want kept and marked stopped", r)
	}
	if _, ok := record(t, db, carol); ok {
		t.Error("carol's record kept though her sandbox is gone")
	}
}

func TestActivityIsWrittenInBatches(t *testing.T) {
	m, _, db := newManager(t, sandbox.DefaultPolicy())
	clk := setClock(m)
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	before, _ := record(t, db, alice)
	clk.advance(time.Minute)
	m.Touch(alice)
	if r, _ := record(t, db, alice); !r.LastActive.Equal(before.LastActive) {
		t.Error("a keystroke was written at once")
	}
	m.Sweep(ctx, false)
	if r, _ := record(t, db, alice); !r.LastActive.Equal(before.LastActive.Add(time.Minute)) {
		t.Errorf("last active %v, want %v: the keystroke's time, written by the sweep", r.LastActive, before.LastActive.Add(time.Minute))
	}
}

func TestWarmPool(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.WarmPool = 2
	m, fake, db := newManager(t, p)
	clk := setClock(m)
	m.SetWarm(map[string]sandbox.Spec{"lab": {Image: "img"}, "unused": {Image: "img"}})
	if m.FillWarm(ctx) {
		t.Fatal("a warm sandbox was made for a lab nobody is in")
	}
	m.Want("lab", clk.now().Add(time.Hour))
	for m.FillWarm(ctx) {
	}
	if made, _, _ := fake.Warmed(); len(made) != 2 {
		t.Fatalf("warm sandboxes made = %v, want 2 for the one lab in demand", made)
	}
	var phases []sandbox.Phase
	sb, err := m.Open(ctx, alice, sandbox.Spec{}, func(ev sandbox.Event) { phases = append(phases, ev.Phase) })
	if err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := fake.Warmed(); len(claimed) != 1 || sb.Name != claimed[0] {
		t.Errorf("alice got %q, claimed %v: want a warm sandbox", sb.Name, claimed)
	}
	if ensured, _, _, _ := fake.Calls(); len(ensured) != 0 || len(phases) != 1 || phases[0] != sandbox.Ready {
		t.Errorf("ensured %v, phases %v: a warm sandbox needs no start", ensured, phases)
	}
	if r, ok := record(t, db, alice); !ok || r.State != sandbox.Running {
		t.Errorf("record = %+v %v", r, ok)
	}
	// The pool refills once students stop taking from it; other labs and
	// a second claim of the same key do not take from it.
	if m.FillWarm(ctx) {
		t.Error("the pool refilled while a class was taking from it")
	}
	clk.advance(10 * time.Second)
	if !m.FillWarm(ctx) || m.FillWarm(ctx) {
		t.Error("pool did not refill to exactly 2")
	}
	if _, err := m.Open(ctx, sandbox.Key{UserID: 2, Lab: "other"}, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := fake.Warmed(); len(claimed) != 1 {
		t.Errorf("claimed %v: a lab without a pool took a warm sandbox", claimed)
	}

	// The class is over: its lab's warm sandboxes go.
	clk.advance(2 * time.Hour)
	for m.FillWarm(ctx) {
	}
	if _, _, discarded := fake.Warmed(); len(discarded) != 2 {
		t.Errorf("discarded %v once the lab was no longer in demand, want its 2", discarded)
	}

	// A restarted server discards warm sandboxes of its previous run.
	fake.Set(sandbox.Key{Lab: "lab"}, func(st *sandbox.Status) { st.State, st.Warm, st.Name = sandbox.Running, true, "warm-old" })
	if _, reaped, err := m.Adopt(ctx); err != nil || reaped != 1 {
		t.Errorf("Adopt reaped %d, %v; want the old warm one", reaped, err)
	}
	if _, _, discarded := fake.Warmed(); len(discarded) != 3 || discarded[2] != "warm-old" {
		t.Errorf("discarded = %v", discarded)
	}
}

func TestPrepareNewSandboxesOnly(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.WarmPool = 1
	m, fake, _ := newManager(t, p)
	var prepared []sandbox.Key
	m.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		prepared = append(prepared, sb.Key)
		return nil
	}
	m.Open(ctx, alice, sandbox.Spec{}, nil)
	m.Open(ctx, alice, sandbox.Spec{}, nil) // running already: not again
	if len(prepared) != 1 || prepared[0] != alice {
		t.Errorf("prepared %v, want alice's new sandbox once", prepared)
	}
	m.SetWarm(map[string]sandbox.Spec{"lab": {}})
	m.FillWarm(ctx)
	if len(prepared) != 2 || prepared[1] != (sandbox.Key{Lab: "lab"}) {
		t.Errorf("prepared %v, want the warm one prepared when made", prepared)
	}
	m.Open(ctx, bob, sandbox.Spec{}, nil) // claims the warm one
	if len(prepared) != 2 {
		t.Errorf("prepared %v: a claimed warm sandbox was prepared twice", prepared)
	}

	m.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error { return errors.New("setup failed") }
	carol := sandbox.Key{UserID: 1, Lab: "other"}
	if _, err := m.Open(ctx, carol, sandbox.Spec{}, nil); apperr.Code(err) != apperr.Unavailable {
		t.Errorf("failed preparation: %v, want unavailable", err)
	}
	if _, _, _, removed := fake.Calls(); len(removed) != 1 || removed[0] != carol {
		t.Errorf("removed %v: a half-prepared sandbox must go, so the next open starts over", removed)
	}
}

// A sandbox whose Docker cannot start for a cause a restart does not fix
// is marked failed with that cause: the student is told once, the hook
// hears of it once, and the health sweep never restarts it in a loop. A
// reset clears it.
func TestBrokenIsNotRestarted(t *testing.T) {
	m, fake, _ := newManager(t, sandbox.DefaultPolicy())
	var heard []string
	m.Broken = func(k sandbox.Key, cause string) { heard = append(heard, cause) }
	events, cancel := m.Subscribe(alice)
	defer cancel()
	cause := "/dev/net/tun cannot be opened in the sandbox: it is mode 600 on the host"
	fake.SetProbe(&sandbox.BrokenError{Cause: cause})

	_, err := m.Open(ctx, alice, sandbox.Spec{}, nil)
	if apperr.Code(err) != apperr.Unavailable || !strings.Contains(apperr.Text("ja", err), "サンドボックスの中の Docker を起動できませんでした") {
		t.Fatalf("Open: %v (ja: %q), want the student's 'Docker could not start'", err, apperr.Text("ja", err))
	}
	if ev := next(t, events, sandbox.KindFailed); ev.Code != "broken" {
		t.Errorf("event %+v, want code broken", ev)
	}
	for range 5 {
		if err := m.Sweep(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, restarted, _ := fake.Calls(); len(restarted) != 0 {
		t.Fatalf("restarted %v: a broken sandbox was restarted", restarted)
	}
	if len(heard) != 1 || heard[0] != cause {
		t.Errorf("Broken heard %q, want the cause once", heard)
	}
	if got := m.BrokenSandboxes(); got[alice] != cause || len(got) != 1 {
		t.Errorf("BrokenSandboxes = %v", got)
	}
	if err := m.Reset(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if got := m.BrokenSandboxes(); len(got) != 0 {
		t.Errorf("after a reset: BrokenSandboxes = %v", got)
	}
	// Fixed: the next start is ready, and nothing is left marked.
	fake.SetProbe(nil)
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); err != nil {
		t.Fatal(err)
	}
}

// The guard's user-safe answer reaches the student as it is; any other
// error is the isolation message (and the details stay in the log).
func TestGuardAnswers(t *testing.T) {
	m, _, _ := newManager(t, sandbox.DefaultPolicy())
	m.Guard = func(context.Context) error { return apperr.New(apperr.Unavailable, "host.notready") }
	if _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); apperr.Text("en", err) != apperr.Text("en", apperr.New(apperr.Unavailable, "host.notready")) {
		t.Errorf("host not ready: %v", err)
	}
	m.Guard = func(context.Context) error { return errors.New("iptables: chain DOCKER-USER missing") }
	if _, err := m.Open(ctx, bob, sandbox.Spec{}, nil); !strings.Contains(apperr.Text("en", err), "isolation is not in place") {
		t.Errorf("firewall missing: %v", err)
	}
}

// TestAdmissionByMemory: when the machine's memory would not take one more
// sandbox (above the reserve), a start waits in line, told why, instead of
// overcommitting; it starts once memory frees (a sandbox stopped).
func TestAdmissionByMemory(t *testing.T) {
	p := sandbox.DefaultPolicy()
	m, fake, _ := newManager(t, p)
	per := int64(400 << 20) // what running sandboxes use, measured
	fake.SetMemory(sandbox.Capacity{Available: p.MemReserve + per/2, PerSandbox: per, Running: 10})
	if n, counted, ok := m.Room(); !ok || n != 0 || counted != per {
		t.Errorf("Room = %d at %d bytes each (%v), want none at %d", n, counted, ok, per)
	}
	events, cancel := m.Subscribe(alice)
	defer cancel()
	opened := make(chan error, 1)
	go func() { _, err := m.Open(ctx, alice, sandbox.Spec{}, nil); opened <- err }()
	ev := next(t, events, sandbox.KindQueued)
	if ev.Code != "queued.memory" || !strings.Contains(ev.Message, "memory is full") {
		t.Errorf("alice was told %+v", ev)
	}
	if ensured, _, _, _ := fake.Calls(); len(ensured) != 0 {
		t.Fatal("a sandbox started with no memory for it")
	}
	// Another student's sandbox stops: room for two.
	fake.SetMemory(sandbox.Capacity{Available: p.MemReserve + 2*per, PerSandbox: per, Running: 9})
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice did not start once memory freed")
	}
	if n, _, _ := m.Room(); n != 2 {
		t.Errorf("Room = %d after the stop, want 2", n)
	}
}

// TestAheadYieldsToTheStudent: a class is prepared (starts made ahead for
// its students wait in line); a student who opens their lab meanwhile has
// their own sandbox's start moved to the front, not left behind the
// classmates' prepared ones.
func TestAheadYieldsToTheStudent(t *testing.T) {
	p := sandbox.DefaultPolicy()
	p.MaxStarts = 1
	m, fake, db := newManager(t, p)
	release := holdStarts(m)
	_, ready, err := m.Start(ctx, alice, sandbox.Spec{}, nil) // holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	// Prepared ahead, in this order: students 3, 4, then bob (2).
	var keys []sandbox.Key
	for _, name := range []string{"carol", "dave"} {
		u := &store.User{Username: name, PasswordHash: "x"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, sandbox.Key{UserID: u.ID, Lab: "lab"})
	}
	keys = append(keys, bob)
	ahead := sandbox.Ahead(ctx)
	for i, k := range keys {
		go m.Open(ahead, k, sandbox.Spec{}, nil)
		for _, w, _ := m.StartLoad(); w != i+1; _, w, _ = m.StartLoad() {
			time.Sleep(time.Millisecond)
		}
	}
	events, cancel := m.Subscribe(bob)
	defer cancel()
	bobs := make(chan error, 1)
	go func() { _, err := m.Open(ctx, bob, sandbox.Spec{}, nil); bobs <- err }() // bob comes
	for {
		ev := next(t, events, sandbox.KindQueued)
		if ev.Args[0] == "1" {
			break // first in line now
		}
	}
	release() // alice's start ends: bob's goes next
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	if err := <-bobs; err != nil {
		t.Fatal(err)
	}
	ensured, _, _, _ := fake.Calls()
	if len(ensured) < 2 || ensured[1] != bob {
		t.Errorf("started in the order %v, want alice then bob", ensured)
	}
}
