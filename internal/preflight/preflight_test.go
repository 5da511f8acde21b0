package preflight

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
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
//
// The test drives the monitor step by step: each run of the checks waits
// for the test's report, the retry timer fires when the test says, and the
// clock moves only when the test moves it.
func TestMonitor(t *testing.T) {
	calls := make(chan chan *Report)
	m := NewMonitor(func(ctx context.Context) *Report {
		reply := make(chan *Report)
		select {
		case calls <- reply:
		case <-ctx.Done():
			return nil
		}
		select {
		case rep := <-reply:
			return rep
		case <-ctx.Done():
			return nil
		}
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	timers := make(chan chan time.Time, 10) // the retry timers the monitor set
	m.after = func(d time.Duration) <-chan time.Time {
		if d != m.Retry {
			t.Errorf("retry timer of %s, want Retry (%s)", d, m.Retry)
		}
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now } // read and moved only by this goroutine
	m.SuspectEvery = 5 * time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	report := func(st Status) *Report { return &Report{At: now, Checks: []Check{{ID: "x", Status: st}}} }

	// Before the first report: the gate waits (here until its ctx ends).
	reply := <-calls
	if m.Report() != nil || !m.Running() {
		t.Errorf("during the first run: report %v, running %t", m.Report(), m.Running())
	}
	canceled, stop := context.WithCancel(context.Background())
	stop()
	if err := m.Gate(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("gate before the first report: %v, want it to wait", err)
	}
	reply <- report(Fail)
	<-m.First()
	err := m.Gate(context.Background())
	if apperr.Code(err) != apperr.Unavailable || apperr.Text("ja", err) != "いまこのサーバーではサンドボックスを起動できません。担当の先生には通知されています。その間も手順は読めます。このページは自動でもう一度確かめます。" {
		t.Errorf("gate on a failed host: %v (ja: %q)", err, apperr.Text("ja", err))
	}

	// Failed: the monitor retries after Retry; the host is fixed meanwhile.
	(<-timers) <- now
	(<-calls) <- report(OK)

	// Ready: no retry timer, so no run by itself; an admin's Recheck runs
	// the checks (and proves the loop went past the ready report).
	m.Recheck()
	reply = <-calls
	if len(timers) != 0 {
		t.Error("a retry timer was set on a ready host")
	}
	if err := m.Gate(context.Background()); err != nil {
		t.Fatalf("gate after the host was fixed: %v", err)
	}
	reply <- report(OK)

	// Suspect runs the checks, then not again within SuspectEvery.
	m.Suspect()
	reply = <-calls
	m.Suspect()
	now = now.Add(m.SuspectEvery - time.Second)
	m.Suspect()
	if len(m.kick) != 0 {
		t.Error("a second suspicion within SuspectEvery asked for checks")
	}
	reply <- report(OK)
	now = now.Add(time.Second)
	m.Suspect()
	(<-calls) <- report(OK)
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
