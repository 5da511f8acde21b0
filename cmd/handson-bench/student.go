package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"handson/internal/i18n"
	"handson/internal/terminal"
)

// A simulated student opens the lab as the lab page does: it dials the
// terminal websocket with its session cookie and the page's Origin, sends
// RESIZE first (no HELLO: each connection gets a new shell), and reads
// frames until the prompt, and its Docker, are there; it reconnects with
// the browser's backoff after a failure.

const (
	openTimeout = 4 * time.Minute  // one student's open, retries included
	dockerGrace = 90 * time.Second // after the prompt, for the "ready" status
	probeMarker = "BENCH-DOCKER-42"
	// Typed at the prompt: the student's first docker command. The image's
	// bash wraps docker to wait for its daemon; the loop covers images
	// without that wrapper. $((40+2)) keeps the marker out of the echo.
	probeCommand = "until docker info >/dev/null 2>&1; do sleep 0.1; done; echo BENCH-DOCKER-$((40+2))\r"
)

var (
	promptRe = regexp.MustCompile(`student@[^\r\n]*\$ `)
	// CSI, OSC, charset and keypad sequences: what bash and readline send
	// around the prompt (bracketed paste, title, colours).
	ansiRe = regexp.MustCompile(`\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]`)
	busyRe = regexp.MustCompile(`(?i)busy|many sandboxes|trying again|retry|HTTP 503`)
)

// dockerReady says whether a STATUS frame announces the student's Docker
// as ready: state "ready" with the catalog's "sandbox.ready", as its code
// or its text in either language (the shell's own "ready" comes before,
// without it).
func dockerReady(st terminal.StatusMessage) bool {
	if st.State != "ready" {
		return false
	}
	if st.Code == "sandbox.ready" {
		return true
	}
	for _, lang := range i18n.Langs {
		if st.Message == i18n.T(lang, "sandbox.ready") {
			return true
		}
	}
	return false
}

type openOpts struct {
	retryBusy  bool // "busy, retry" answers: retry after 1 s, 2 s, 4 s, … 10 s like the browser
	retryAny   bool // any failure: retry too (the browser does)
	probeShell bool // at the prompt, type a docker command and wait for its answer
	keep       bool // leave the websocket open (a student idling with the lab open)
	// hello: the first frame is a Hello, as the browser's page sends it:
	// the tab's session if it has one (a terminal opened ahead), else a
	// new one. Without it (the default), every connection gets a new shell.
	hello bool
}

type statusAt struct {
	at             time.Duration
	state, message string
}

// opening is one student's open, timed from the first dial.
type opening struct {
	user      *student
	dials     int
	busy      int           // retries after a "busy" answer
	failures  []string      // other failed attempts
	shell     time.Duration // STATUS ready (the shell is attached)
	prompt    time.Duration // first OUTPUT showing the prompt
	docker    time.Duration // STATUS saying Docker is ready
	dockerErr string        // STATUS error after the shell opened
	typed     time.Duration // the probe's answer: the first docker command done
	statuses  []statusAt    // of the successful attempt
	err       error
}

func (o *opening) retries() int { return max(0, o.dials-1) }

func (o *opening) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: dials %d (busy %d)", o.user.name, o.dials, o.busy)
	if o.err != nil {
		fmt.Fprintf(&b, " FAILED: %v", o.err)
	}
	fmt.Fprintf(&b, "; prompt %s, docker-ready %s", fmtSec(o.prompt), fmtSec(o.docker))
	if o.typed > 0 {
		fmt.Fprintf(&b, ", first docker command %s", fmtSec(o.typed))
	}
	if o.dockerErr != "" {
		fmt.Fprintf(&b, ", docker error %q", o.dockerErr)
	}
	b.WriteString("; statuses:")
	for _, s := range o.statuses {
		fmt.Fprintf(&b, " [%s %s %q]", fmtSec(s.at), s.state, s.message)
	}
	return b.String()
}

func fmtSec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// open opens the lab for u, reconnecting with backoff after a failure.
func (p *benchPlatform) open(ctx context.Context, u *student, opts openOpts) *opening {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	o := &opening{user: u}
	t0 := time.Now()
	backoff := time.Second
	for {
		c, ok, why, err := p.attempt(ctx, u, t0, o, opts)
		if err != nil {
			o.err = err
			return o
		}
		if ok {
			switch {
			case c == nil: // closed after the prompt
			case opts.keep:
				p.keep(c)
			default:
				hangUp(c.WS)
			}
			return o
		}
		busy := busyRe.MatchString(why)
		if busy {
			o.busy++
		} else {
			if e := p.log.lastError(); e != "" { // the student sees "Internal error."
				why += " — server log: " + e[:min(len(e), 400)]
			}
			o.failures = append(o.failures, why)
		}
		if !(busy && opts.retryBusy) && !opts.retryAny {
			o.err = errors.New(why)
			return o
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			o.err = fmt.Errorf("gave up after %d dials in %s; last: %s", o.dials, fmtSec(time.Since(t0)), why)
			return o
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// attempt is one websocket connection. On success it returns ok and the
// client (nil if it closed once the prompt was there); otherwise a reason
// when the server refused or dropped it (to retry), or an error when time
// ran out.
func (p *benchPlatform) attempt(ctx context.Context, u *student, t0 time.Time, o *opening, opts openOpts) (c *terminal.Client, ok bool, why string, err error) {
	h := http.Header{"Origin": {p.base}, "Cookie": {u.cookie}}
	o.dials++
	ws, res, err := websocket.DefaultDialer.DialContext(ctx, p.wsURL, h)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, "", ctx.Err()
		}
		if res != nil {
			return nil, false, fmt.Sprintf("HTTP %d on dial", res.StatusCode), nil
		}
		return nil, false, "dial: " + err.Error(), nil
	}
	c = terminal.NewClient(ws)
	if opts.hello {
		err = c.Hello(terminal.HelloRequest{Cols: 80, Rows: 24})
	} else {
		c.AckEvery = -1 // a client without HELLO acknowledges nothing
		err = c.Resize(80, 24)
	}
	if err != nil {
		ws.Close()
		return nil, false, "send the first frame: " + err.Error(), nil
	}
	var (
		raw                            []byte
		statuses                       []statusAt
		shell, prompt, dockerAt, typed time.Duration
		dockerErr, lastErr             string
	)
	deadline, _ := ctx.Deadline()
	for {
		rd := deadline
		if prompt > 0 && dockerAt == 0 && dockerErr == "" {
			if g := t0.Add(prompt + dockerGrace); g.Before(rd) {
				rd = g // the status may never come
			}
		}
		ws.SetReadDeadline(rd)
		typ, payload, err := c.Next()
		now := time.Since(t0)
		if err != nil {
			ws.Close()
			if prompt > 0 && (!opts.probeShell || typed > 0) { // only the Docker status is missing
				c = nil
				break
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				return nil, false, "", fmt.Errorf("no prompt after %s (%d dials): %v", fmtSec(now), o.dials, err)
			}
			if lastErr != "" {
				return nil, false, lastErr, nil
			}
			return nil, false, "connection dropped: " + err.Error(), nil
		}
		switch typ {
		case terminal.Status:
			st := c.Status
			statuses = append(statuses, statusAt{now, st.State, st.Message})
			switch {
			case st.State == "error" && prompt > 0:
				dockerErr = st.Message // the shell runs, Docker did not come
			case st.State == "error", st.State == "closed":
				lastErr = st.State + ": " + st.Message // the close follows
			case st.State == "ready" && shell == 0:
				shell = now
			}
			if dockerAt == 0 && dockerReady(st) {
				dockerAt = now
			}
		case terminal.Output:
			if len(raw) < 256<<10 {
				raw = append(raw, payload...)
			}
			text := ansiRe.ReplaceAll(raw, nil)
			if prompt == 0 && promptRe.Match(text) {
				prompt = now
				if opts.probeShell {
					c.Send(probeCommand)
				}
			}
			if prompt > 0 && typed == 0 && opts.probeShell && bytes.Contains(text, []byte(probeMarker+"\r\n")) {
				typed = now
			}
		}
		if prompt > 0 && (dockerAt > 0 || dockerErr != "") && (!opts.probeShell || typed > 0) {
			break
		}
	}
	o.shell, o.prompt, o.docker, o.dockerErr, o.typed, o.statuses = shell, prompt, dockerAt, dockerErr, typed, statuses
	return c, true, "", nil
}

// openAll opens the lab for users, at most par at once (0: all at the same
// instant), and returns their results in order.
func (p *benchPlatform) openAll(ctx context.Context, users []*student, par int, opts openOpts) []*opening {
	if par <= 0 {
		par = len(users)
	}
	out := make([]*opening, len(users))
	sem := make(chan struct{}, par)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = p.open(ctx, u, opts)
		}()
	}
	time.Sleep(50 * time.Millisecond) // every goroutine waits at the gate
	close(gate)
	wg.Wait()
	return out
}

// dist is a sample of durations.
type dist []time.Duration

// pct is the nearest-rank percentile (p95 of 10 samples is the largest).
func (d dist) pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (d dist) String() string {
	if len(d) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s, p95 %s, max %s (n=%d)", fmtSec(d.pct(50)), fmtSec(d.pct(95)), fmtSec(d.pct(100)), len(d))
}

// figures are p50, p95 and max; "(n=…)" goes into the row's text.
func (d dist) figures() []Figure {
	if len(d) == 0 {
		return nil
	}
	return []Figure{secs("p50", d.pct(50)), secs("p95", d.pct(95)), secs("max", d.pct(100))}
}

func (d dist) text() string {
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("(n=%d)", len(d))
}

// distRow records a row of a distribution, with more figures after it.
func (r *Result) distRow(measurement, target string, ok *bool, d dist, more ...Figure) {
	r.row(measurement, target, ok, d.text(), append(d.figures(), more...)...)
}

// summary gathers the timings of successful opens.
type summary struct {
	prompt, docker, typed dist
	failed                []*opening
	dials, busy, others   int
	maxRetries            int
}

func summarize(opens []*opening) summary {
	var s summary
	for _, o := range opens {
		s.dials += o.dials
		s.busy += o.busy
		s.others += len(o.failures)
		s.maxRetries = max(s.maxRetries, o.retries())
		if o.err != nil {
			s.failed = append(s.failed, o)
			continue
		}
		s.prompt = append(s.prompt, o.prompt)
		if o.docker > 0 {
			s.docker = append(s.docker, o.docker)
		}
		if o.typed > 0 {
			s.typed = append(s.typed, o.typed)
		}
	}
	return s
}

// failures are the figures of failed opens and of failed tries retried.
func (s summary) failures() []Figure {
	return []Figure{alarm("failed tries, retried", s.others), alarm("failed", len(s.failed))}
}

// noteFailures lists the failed tries under the table.
func (r *run) noteFailures(label string, opens []*opening) {
	for _, o := range opens {
		for _, f := range o.failures {
			r.res.note("- %s: %s had a failed try (retried): %s", label, o.user.name, f)
		}
		if o.err != nil {
			r.res.note("- %s: %s failed: %v", label, o.user.name, o.err)
		}
	}
}

// phases is the mean time from the dial to each status message (in the
// order they first came) and to the prompt: where the start time goes.
func phases(opens []*opening) string {
	type acc struct {
		sum time.Duration
		n   int
	}
	var order []string
	sums := map[string]*acc{}
	add := func(k string, d time.Duration) {
		if d <= 0 {
			return
		}
		a, ok := sums[k]
		if !ok {
			a = &acc{}
			sums[k] = a
			order = append(order, k)
		}
		a.sum += d
		a.n++
	}
	for _, o := range opens {
		if o.err != nil {
			continue
		}
		type ev struct {
			at time.Duration
			k  string
		}
		var evs []ev
		for _, s := range o.statuses {
			evs = append(evs, ev{s.at, fmt.Sprintf("STATUS %s %q", s.state, s.message)})
		}
		evs = append(evs, ev{o.prompt, "OUTPUT prompt"})
		if o.typed > 0 {
			evs = append(evs, ev{o.typed, "first docker command answered"})
		}
		slices.SortStableFunc(evs, func(a, b ev) int { return int(a.at - b.at) })
		for _, e := range evs {
			add(e.k, e.at)
		}
	}
	slices.SortStableFunc(order, func(a, b string) int {
		return int(sums[a].sum/time.Duration(sums[a].n) - sums[b].sum/time.Duration(sums[b].n))
	})
	var b strings.Builder // a Markdown code block, blank lines around it
	b.WriteString("\n")
	for _, k := range order {
		a := sums[k]
		fmt.Fprintf(&b, "\n    %7s  %s (n=%d)", fmtSec(a.sum/time.Duration(a.n)), k, a.n)
	}
	b.WriteString("\n")
	return b.String()
}
