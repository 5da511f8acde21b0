package preflight

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"handson/internal/apperr"
	"handson/internal/i18n"
)

// Monitor keeps the host's last Report for a running server: it runs the
// checks at start, again every Retry while they fail, when an admin asks,
// and (at most every SuspectEvery) when a sandbox's Docker could not start.
// Sandboxes start only through its Gate.
type Monitor struct {
	Retry        time.Duration // while not ready; default 1 minute
	SuspectEvery time.Duration // least time between checks asked for by broken sandboxes; default 5 minutes

	run  func(ctx context.Context) *Report
	log  *slog.Logger
	kick chan struct{}
	// time.Now and time.After, unless a test moves time itself
	now   func() time.Time
	after func(time.Duration) <-chan time.Time

	mu        sync.Mutex
	last      *Report
	first     chan struct{} // closed once there is a report
	running   bool
	suspected time.Time
}

// NewMonitor returns a Monitor of run; call Run.
func NewMonitor(run func(ctx context.Context) *Report, log *slog.Logger) *Monitor {
	return &Monitor{Retry: time.Minute, SuspectEvery: 5 * time.Minute,
		run: run, log: log, kick: make(chan struct{}, 1), first: make(chan struct{}),
		now: time.Now, after: time.After}
}

// Run runs the checks now and then as needed, until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	for {
		m.check(ctx)
		var retry <-chan time.Time
		if r := m.Report(); r != nil && !r.Ready() {
			retry = m.after(m.Retry)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-retry:
		}
	}
}

// First is closed once the first report is there.
func (m *Monitor) First() <-chan struct{} { return m.first }

func (m *Monitor) check(ctx context.Context) {
	m.mu.Lock()
	m.running = true
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	rep := m.run(ctx)
	cancel()
	if ctx.Err() != nil && rep == nil {
		return
	}
	m.mu.Lock()
	was := m.last
	m.last, m.running = rep, false
	if was == nil {
		close(m.first)
	}
	m.mu.Unlock()
	m.logReport(was, rep)
}

// logReport says what changed: each failed check with its fix at Error,
// and a return to ready.
func (m *Monitor) logReport(was, rep *Report) {
	for _, c := range rep.Checks {
		switch c.Status {
		case Fail:
			m.log.Error("host not ready: "+i18n.T("en", "preflight."+c.ID), "found", i18n.T("en", c.Key, c.Args...), "detail", c.Detail, "fix", i18n.T("en", c.Fix))
		case Warn:
			m.log.Warn("host check: "+i18n.T("en", "preflight."+c.ID), "found", i18n.T("en", c.Key, c.Args...), "detail", c.Detail, "fix", i18n.T("en", c.Fix))
		}
	}
	switch {
	case rep.Ready() && (was == nil || !was.Ready()):
		m.log.Info("host ready: sandboxes can start", "took", rep.Took.Round(time.Millisecond))
	case !rep.Ready():
		m.log.Error("the lab machines are not ready: no sandbox starts until the failed checks are fixed (handson doctor, or the admin status page)", "failed", len(rep.Failed()), "retry_in", m.Retry)
	}
}

// Report is the last report, nil before the first one ends.
func (m *Monitor) Report() *Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Running reports whether checks are running now.
func (m *Monitor) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// Recheck runs the checks again soon (an admin asked).
func (m *Monitor) Recheck() {
	select {
	case m.kick <- struct{}{}:
	default: // one is queued already
	}
}

// Suspect runs the checks again unless it did so lately: a sandbox's
// Docker could not start, and the host may be at fault. A student who
// breaks their own sandbox over and over costs one check per SuspectEvery.
func (m *Monitor) Suspect() {
	m.mu.Lock()
	now := m.now()
	if now.Sub(m.suspected) < m.SuspectEvery {
		m.mu.Unlock()
		return
	}
	m.suspected = now
	m.mu.Unlock()
	m.Recheck()
}

// Gate says whether a sandbox may start: it waits for the first report,
// then answers nil when the host is ready, else "the lab machines are not
// ready" for the student.
func (m *Monitor) Gate(ctx context.Context) error {
	select {
	case <-m.first:
	case <-ctx.Done():
		return ctx.Err()
	}
	if r := m.Report(); !r.Ready() {
		return apperr.New(apperr.Unavailable, "host.notready")
	}
	return nil
}
