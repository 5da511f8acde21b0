// Package preflight proves the host before it takes students: each
// precondition of sandboxes (Docker, user-namespace remapping, devices,
// seccomp, firewall, images, registry, disk, memory) is a Check that says
// what it found and how to fix it, and a canary sandbox proves them all
// together. `handson serve` runs them at start and keeps the result (a
// Monitor); `handson doctor` runs them on demand.
package preflight

import (
	"context"
	"time"
)

// Status is what a check found.
type Status string

// Statuses, from good to bad. Only Fail keeps sandboxes from starting.
const (
	OK   Status = "ok"
	Skip Status = "skip" // not checked (it does not apply, or it could not be)
	Warn Status = "warn" // students can work, but something will fail them
	Fail Status = "fail"
)

// Check is one precondition and what was found. Messages are catalog keys
// (internal/i18n) with arguments, said in the reader's language at the edge.
type Check struct {
	ID      string // docker, userns, devices, seccomp, firewall, images, registry, disk, memory, canary
	Status  Status
	Key     string // what was found
	Args    []any
	Fix     string // how to fix it; "" when nothing is to be done
	Detail  string // what the host itself said (a daemon's error, a log line), as it said it
	Took    time.Duration
	Stages  []Stage // the canary's
	Blocker bool    // nothing after this check can be checked (no Docker)
}

// Stage is one timed step of the canary.
type Stage struct {
	Name string // start, docker, run, remove
	Took time.Duration
	Done bool
}

// Probe is one check to run.
type Probe struct {
	ID  string
	Run func(ctx context.Context) Check
}

// Report is one run of every check.
type Report struct {
	At     time.Time
	Took   time.Duration
	Checks []Check
}

// Ready reports whether sandboxes may start: no check failed.
func (r *Report) Ready() bool { return len(r.Failed()) == 0 }

// Blocked reports whether a Blocker failed: nothing else could be checked.
func (r *Report) Blocked() bool {
	for _, c := range r.Checks {
		if c.Blocker && c.Status == Fail {
			return true
		}
	}
	return false
}

// Failed lists the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Run runs probes in order. After a Blocker fails, the rest are reported
// as not checked.
func Run(ctx context.Context, probes []Probe) *Report {
	rep := &Report{At: time.Now()}
	blocked := false
	for _, p := range probes {
		if blocked {
			rep.Checks = append(rep.Checks, Check{ID: p.ID, Status: Skip, Key: "preflight.skipped"})
			continue
		}
		start := time.Now()
		c := p.Run(ctx)
		c.ID = p.ID
		if c.Took == 0 {
			c.Took = time.Since(start)
		}
		rep.Checks = append(rep.Checks, c)
		blocked = c.Blocker && c.Status == Fail
	}
	rep.Took = time.Since(rep.At)
	return rep
}
