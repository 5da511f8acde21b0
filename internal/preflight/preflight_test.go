package preflight

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"handson/internal/apperr"
)

func probe(id string, st Status, blocker bool, ran *[]string) Probe {
	return Probe{ID: id, Run: func(context.Context) Check {
		*ran = append(*ran, id)
		return Check{Status: st, Key: "k." + id, Blocker: blocker}
	}}
}

// After a blocker fails, the rest are reported as not checked, not run.
func TestRunStopsAtBlocker(t *testing.T) {
	var ran []string
	rep := Run(context.Background(), []Probe{
		probe("a", OK, true, &ran), probe("b", Fail, true, &ran), probe("c", OK, false, &ran),
	})
	if len(ran) != 2 || ran[1] != "b" {
		t.Errorf("ran %v, want a and b only", ran)
	}
	if len(rep.Checks) != 3 || rep.Checks[2].ID != "c" || rep.Checks[2].Status != Skip || rep.Checks[2].Key != "preflight.skipped" {
		t.Errorf("checks %+v: want c skipped", rep.Checks)
	}
	if rep.Ready() || !rep.Blocked() || len(rep.Failed()) != 1 || rep.Failed()[0].ID != "b" {
		t.Errorf("ready=%t blocked=%t failed=%v", rep.Ready(), rep.Blocked(), rep.Failed())
	}
	// A warning does not keep sandboxes from starting; a non-blocker
	// failure does, without stopping the others.
	ran = nil
	rep = Run(context.Background(), []Probe{probe("w", Warn, false, &ran), probe("f", Fail, false, &ran), probe("o", OK, false, &ran)})
	if len(ran) != 3 || rep.Ready() || rep.Blocked() {
		t.Errorf("ran %v ready=%t blocked=%t: want all run, not ready, not blocked", ran, rep.Ready(), rep.Blocked())
	}
	ran = nil
	if rep = Run(context.Background(), []Probe{probe("w", Warn, false, &ran)}); !rep.Ready() {
		t.Error("a warning alone made the host not ready")
	}
}

// The gate waits for the first report, then lets sandboxes start only on a
// ready host; checks run again while they fail, and when an admin asks;
// broken sandboxes ask at most once per SuspectEvery.
func TestMonitor(t *testing.T) {
	var ready atomic.Bool
	var runs atomic.Int32
	release := make(chan struct{})
	m := NewMonitor(func(ctx context.Context) *Report {
		if runs.Add(1) == 1 {
			<-release
		}
		st := Fail
		if ready.Load() {
			st = OK
		}
		return &Report{At: time.Now(), Checks: []Check{{ID: "x", Status: st}}}
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Retry = 50 * time.Millisecond
	m.SuspectEvery = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Before the first report: the gate waits (here until its ctx ends).
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := m.Gate(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("gate before the first report: %v, want it to wait", err)
	}
	stop()
	if m.Report() != nil || !m.Running() {
		t.Error("a report before the first run ended")
	}
	close(release)
	<-m.First()
	err := m.Gate(context.Background())
	if apperr.Code(err) != apperr.Unavailable || apperr.Text("ja", err) != "いまこのサーバーではサンドボックスを起動できません。担当の先生には通知されています。その間も手順は読めます。このページは自動でもう一度確かめます。" {
		t.Errorf("gate on a failed host: %v (ja: %q)", err, apperr.Text("ja", err))
	}
	// Fixed: the retry while failing finds it.
	ready.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for !m.Report().Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Gate(context.Background()); err != nil {
		t.Fatalf("gate after the host was fixed: %v", err)
	}
	// Ready: no more runs by themselves; Suspect runs once per SuspectEvery.
	time.Sleep(200 * time.Millisecond)
	n := runs.Load()
	time.Sleep(200 * time.Millisecond)
	if runs.Load() != n {
		t.Errorf("checks ran by themselves on a ready host (%d → %d)", n, runs.Load())
	}
	m.Suspect()
	m.Suspect()
	m.Suspect()
	waitRuns(t, &runs, n+1)
	time.Sleep(200 * time.Millisecond)
	if got := runs.Load(); got != n+1 {
		t.Errorf("three suspicions ran %d checks, want 1", got-n)
	}
	m.Recheck()
	waitRuns(t, &runs, n+2)
}

func waitRuns(t *testing.T, runs *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs, want %d", runs.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDisk(t *testing.T) {
	c := Disk([]string{t.TempDir(), "/no/such/dir"})
	if c.Status == Skip || len(c.Args) != 2 || c.Args[1] == "/no/such/dir" {
		t.Errorf("disk check: %+v", c)
	}
	if c := Disk([]string{"/no/such/dir"}); c.Status != Skip {
		t.Errorf("no directory to measure: %+v, want skipped", c)
	}
}

// The report as doctor and the server's output print it: each check's
// verdict and name, what was found, the host's words, the stages, the fix.
func TestPrint(t *testing.T) {
	rep := &Report{Checks: []Check{
		{ID: "devices", Status: Fail, Key: "preflight.devices.fail", Args: []any{"/dev/net/tun", "0600"}, Fix: "preflight.devices.fix"},
		{ID: "canary", Status: Fail, Key: "preflight.canary.docker", Detail: "/dev/net/tun cannot be opened", Fix: "preflight.devices.fix",
			Stages: []Stage{{Name: "start", Took: time.Second, Done: true}, {Name: "docker", Took: 200 * time.Millisecond}}},
		{ID: "memory", Status: OK, Key: "preflight.memory.ok", Args: []any{"20.0 GiB", 20, "1.0 GiB"}},
	}}
	var b strings.Builder
	rep.Print(&b, "ja")
	for _, want := range []string{
		"FAIL  デバイス",
		"このホストの /dev/net/tun はモード 0600 です",
		"対処: root で scripts/host-setup.sh を実行してください",
		"        | /dev/net/tun cannot be opened",
		"サンドボックス起動 1s, Docker 応答 200ms ✗",
		"ok    メモリ",
		"2 個の確認が失敗しました",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
	err := rep.Err(nil)
	if err == nil || !strings.Contains(err.Error(), "Devices: /dev/net/tun is mode 0600") || !strings.Contains(err.Error(), "fix: Run scripts/host-setup.sh") {
		t.Errorf("Err: %v", err)
	}
}
