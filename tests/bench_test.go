package tests

// Benchmarks of the real platform: the whole server in-process (as in
// e2e_test.go), real sandboxes on the host's Docker, students simulated by
// websocket clients that speak the terminal protocol (docs/terminal.md; as
// a client that sends no HELLO, each connection gets a new shell) and retry
// like the browser does. They start many sandboxes (up to 50 for the
// density run), so they run only when asked:
//
//	HANDSON_BENCH=1 go test ./tests -run '^$' -bench '^Benchmark(OpenLab|OpenLabConcurrent|WarmPool|IdleMemory|Density)$' -benchtime 1x -timeout 30m
//
// scripts/bench.sh (make bench) runs them and prints the results table
// (docs/benchmarks.md). Each benchmark measures a fixed number of
// sandboxes, whatever b.N is. Every sandbox is removed afterwards, by the
// run's own instance label (each platform gets a fresh data dir, hence a
// fresh instance id, so no developer's sandbox is ever touched).
//
// Knobs (environment): HANDSON_BENCH_N (sequential opens, 10),
// HANDSON_BENCH_CONCURRENT (students at once, 10), HANDSON_BENCH_IDLE_N
// (sandboxes for idle memory, 10), HANDSON_BENCH_IDLE (idle time, 20s),
// HANDSON_BENCH_DENSITY (density target, 50), HANDSON_BENCH_BATCH (5),
// HANDSON_BENCH_SETTLE (idle time per density step, 10s), HANDSON_BENCH_POOL
// (warm pool size, 5).
// HANDSON_BENCH_OUT collects the table rows, HANDSON_BENCH_INSTANCES the
// instance ids (scripts/bench.sh removes their sandboxes if a run dies).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/gorilla/websocket"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/terminal"
	"handson/internal/testenv"
)

const (
	benchLab         = "docker-basics"
	benchPassword    = "bench-password-7f3a"
	benchOpenTimeout = 4 * time.Minute  // one student's open, retries included
	benchDockerGrace = 90 * time.Second // after the prompt, for the "Docker is ready" status
	benchMarker      = "BENCH-DOCKER-42"
	// Typed at the prompt: the student's first docker command. The image's
	// bash wraps docker to wait for its daemon; the loop covers images
	// without that wrapper. $((40+2)) keeps the marker out of the echo.
	benchProbe = "until docker info >/dev/null 2>&1; do sleep 0.1; done; echo BENCH-DOCKER-$((40+2))\r"
)

// Targets from the issue.
const (
	benchTargetPromptP50 = 1500 * time.Millisecond
	benchTargetCrowdP95  = 5 * time.Second
	benchTargetPool      = 300 * time.Millisecond
	benchTargetIdleMiB   = 60.0
)

var (
	benchPromptRe = regexp.MustCompile(`student@[^\r\n]*\$ `)
	// CSI, OSC, charset and keypad sequences: what bash and readline send
	// around the prompt (bracketed paste, title, colours).
	benchANSIRe = regexp.MustCompile(`\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]`)
	benchBusyRe = regexp.MustCompile(`(?i)busy|many sandboxes|trying again|retry|HTTP 503`)
)

// benchDockerReady says whether a STATUS frame announces the student's
// Docker as ready ("Your sandbox is ready." today, sent as state "ready" after the
// shell opened, or as "starting" before it in older servers).
func benchDockerReady(state, msg string) bool {
	m := strings.ToLower(msg)
	return state != "error" && strings.Contains(m, "docker") && strings.Contains(m, "ready") &&
		!strings.Contains(m, "not ready") && !strings.Contains(m, "waiting")
}

func benchGate(b *testing.B) {
	b.Helper()
	if os.Getenv("HANDSON_BENCH") != "1" {
		b.Skip("starts real sandboxes (up to 50): run with HANDSON_BENCH=1, or scripts/bench.sh / make bench")
	}
	testenv.RequireDocker(b)
}

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchEnvDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// ---- results ------------------------------------------------------------

var benchOutMu sync.Mutex

// benchAppend adds a line to the file named by env, if set.
func benchAppend(env, line string) {
	path := os.Getenv(env)
	if path == "" {
		return
	}
	benchOutMu.Lock()
	defer benchOutMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func benchClean(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }

// benchLogf prints a progress line to stderr. (Benchmark logs from b.Logf
// are cut after ten lines; these are the run's record.)
func benchLogf(b *testing.B, format string, args ...any) {
	b.Helper()
	benchOutMu.Lock()
	defer benchOutMu.Unlock()
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), b.Name(), fmt.Sprintf(format, args...))
}

// benchRow records a line of the results table.
func benchRow(b *testing.B, measurement, result, target, met string) {
	b.Helper()
	benchLogf(b, "RESULT | %s | %s | %s | %s", measurement, result, target, met)
	benchAppend("HANDSON_BENCH_OUT", strings.Join([]string{"row", benchClean(measurement), benchClean(result), benchClean(target), benchClean(met)}, "\t"))
}

// benchNote records a line printed under the table (Markdown allowed).
func benchNote(b *testing.B, format string, args ...any) {
	b.Helper()
	text := fmt.Sprintf(format, args...)
	benchLogf(b, "%s", text)
	for _, line := range strings.Split(text, "\n") {
		benchAppend("HANDSON_BENCH_OUT", "note\t"+strings.ReplaceAll(line, "\t", " "))
	}
}

func benchMet(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func benchSec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// benchDist is a sample of durations.
type benchDist []time.Duration

// pct is the nearest-rank percentile (p95 of 10 samples is the largest).
func (d benchDist) pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (d benchDist) mean() time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func (d benchDist) String() string {
	if len(d) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s, p95 %s, max %s (n=%d)", benchSec(d.pct(50)), benchSec(d.pct(95)), benchSec(d.pct(100)), len(d))
}

// ---- the platform ---------------------------------------------------------

type benchPlatform struct {
	b        *testing.B
	a        *platform.Platform
	base     string // http://127.0.0.1:port
	wsURL    string
	instance string
	hash     string
	log      *benchLog
	docker   *client.Client

	mu    sync.Mutex
	conns []*websocket.Conn // kept open: students idling with the lab open
	users int
	ids   map[string]string // container name → id
}

// newBenchPlatform starts the whole platform on a free port with a fresh
// data dir, and removes everything it started when b ends.
func newBenchPlatform(b *testing.B, maxStarts int, options ...func(*config.Config)) *benchPlatform {
	b.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.MaxStarts = maxStarts
	cfg.RegistryAddr = testRegistryAddr(b, cfg.DataDir)
	for _, o := range options {
		o(&cfg)
	}
	b.Setenv("HANDSON_ADMIN_PASSWORD", "bench-admin-password")
	logs := &benchLog{}
	a, err := platform.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), io.Discard)
	if err != nil {
		b.Fatalf("start the platform: %v", err)
	}
	instance, err := a.DB.InstanceID(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	benchAppend("HANDSON_BENCH_INSTANCES", instance)
	// Other work on the machine (other test runs on the same daemon) skews
	// every number here: record how busy it was.
	m := benchMeminfo()
	load := fmt.Sprintf("%s started: load average %s, host used memory %.0f MiB, %d containers running", b.Name(), benchLoad(), benchMiB(m.used()), benchRunning())
	benchLogf(b, "%s", load)
	benchAppend("HANDSON_BENCH_OUT", "env\t"+load)
	cli, err := client.New(client.FromEnv)
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(a.Server.URL())
	p := &benchPlatform{b: b, a: a, base: a.Server.URL(), wsURL: "ws://" + u.Host + "/api/labs/" + benchLab + "/terminal",
		instance: instance, log: logs, docker: cli, ids: map[string]string{}}
	b.Cleanup(func() {
		p.closeConns()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			b.Errorf("close the platform: %v", err)
		}
		// A warm sandbox being made (or discarded) as the platform closed
		// may appear, or vanish, late: go over it until nothing is left.
		var n int
		var err error
		for pass := 0; pass < 5; pass++ {
			if pass > 0 {
				time.Sleep(2 * time.Second)
			}
			var removed int
			removed, err = benchRemoveInstance(cli, instance)
			n += removed
			if removed == 0 && err == nil {
				break
			}
		}
		if err != nil {
			b.Errorf("remove the sandboxes of instance %s: %v (scripts/bench.sh retries)", instance, err)
		}
		benchLogf(b, "cleanup: removed %d sandboxes of instance %s", n, instance)
		if b.Failed() {
			benchLogf(b, "server log (last 8 KiB):\n%s", logs.tail(8<<10))
		}
		cli.Close()
	})
	hash, err := auth.HashPassword(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	p.hash = hash
	return p
}

// benchRemoveInstance removes every container and network labelled with
// instance, a few at a time.
func benchRemoveInstance(cli *client.Client, instance string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := client.Filters{}.Add("label", docker.LabelInstance+"="+instance)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for _, c := range cs.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !benchGone(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return len(cs.Items), err
	}
	for _, n := range ns.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !benchGone(err) {
			errs = append(errs, err)
		}
	}
	return len(cs.Items), errors.Join(errs...)
}

// benchGone: the object is gone, or someone else (the platform's own
// discard of a warm sandbox) is removing it; the next pass will see.
func benchGone(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already in progress")
}

func (p *benchPlatform) closeConns() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, ws := range conns {
		benchClose(ws)
	}
}

func benchClose(ws *websocket.Conn) {
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	ws.Close()
}

// keep leaves ws open, reading (and so answering pings) until it closes.
func (p *benchPlatform) keep(ws *websocket.Conn) {
	ws.SetReadDeadline(time.Time{})
	p.mu.Lock()
	p.conns = append(p.conns, ws)
	p.mu.Unlock()
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

type benchUser struct {
	id     int64
	name   string
	cookie string
}

func (u *benchUser) key() sandbox.Key { return sandbox.Key{UserID: u.id, Lab: benchLab} }

// newUsers creates n students and logs each in (POST /login, as the form does).
func (p *benchPlatform) newUsers(n int) []*benchUser {
	p.b.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var users []*benchUser
	for range n {
		p.mu.Lock()
		p.users++
		name := fmt.Sprintf("bench-%03d", p.users)
		p.mu.Unlock()
		u := &store.User{Username: name, DisplayName: name, PasswordHash: p.hash, Role: store.RoleStudent}
		if err := p.a.DB.CreateUser(context.Background(), u); err != nil {
			p.b.Fatalf("create %s: %v", name, err)
		}
		res, err := hc.PostForm(p.base+"/login", url.Values{"username": {name}, "password": {benchPassword}})
		if err != nil {
			p.b.Fatalf("log in %s: %v", name, err)
		}
		res.Body.Close()
		var cookie string
		for _, c := range res.Cookies() {
			if c.Value != "" {
				cookie = c.Name + "=" + c.Value
			}
		}
		if res.StatusCode != http.StatusSeeOther || cookie == "" {
			p.b.Fatalf("log in %s: status %d, cookies %v", name, res.StatusCode, res.Cookies())
		}
		users = append(users, &benchUser{id: u.ID, name: name, cookie: cookie})
	}
	return users
}

func (p *benchPlatform) name(u *benchUser) string { return p.a.Engine.Name(u.key()) }

// waitWarm waits until the warm pool holds n ready sandboxes of lab.
func (p *benchPlatform) waitWarm(lab string, n int, timeout time.Duration) time.Duration {
	p.b.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		sts, err := p.a.Engine.List(ctx)
		if err != nil {
			p.b.Fatalf("list sandboxes: %v", err)
		}
		var warm []string
		for _, st := range sts {
			if st.Warm && st.Key.Lab == lab && st.State == sandbox.Running {
				warm = append(warm, st.Name)
			}
		}
		ready := 0
		for _, name := range warm {
			if len(warm) >= n && p.a.Engine.WaitReady(ctx, &sandbox.Sandbox{ID: name, Name: name}) == nil {
				ready++
			}
		}
		if ready >= n {
			time.Sleep(500 * time.Millisecond) // the pool takes it right after it is ready
			return time.Since(t0)
		}
		select {
		case <-ctx.Done():
			p.b.Fatalf("the warm pool has %d of %d sandboxes of %s after %s", len(warm), n, lab, timeout)
		case <-time.After(time.Second):
		}
	}
}

// ---- one student opening the lab ----------------------------------------

type benchOpenOpts struct {
	retryBusy  bool // "busy, retry" answers: retry after 1 s, 2 s, 4 s, … 10 s like the browser
	retryAny   bool // any failure: retry too (the browser does)
	probeShell bool // at the prompt, type a docker command and wait for its answer
	keep       bool // leave the websocket open (a student idling with the lab open)
}

type benchStatus struct {
	at             time.Duration
	state, message string
}

// benchOpen is one student's open, timed from the first dial.
type benchOpen struct {
	user      *benchUser
	dials     int
	busy      int           // retries after a "busy" answer
	failures  []string      // other failed attempts
	shell     time.Duration // STATUS ready (the shell is attached)
	prompt    time.Duration // first OUTPUT showing the prompt
	docker    time.Duration // STATUS saying Docker is ready
	dockerErr string        // STATUS error after the shell opened
	typed     time.Duration // the probe's answer: the first docker command done
	statuses  []benchStatus // of the successful attempt
	err       error
}

func (o *benchOpen) retries() int { return max(0, o.dials-1) }

func (o *benchOpen) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: dials %d (busy %d)", o.user.name, o.dials, o.busy)
	if o.err != nil {
		fmt.Fprintf(&b, " FAILED: %v", o.err)
	}
	fmt.Fprintf(&b, "; prompt %s, docker-ready %s", benchSec(o.prompt), benchSec(o.docker))
	if o.typed > 0 {
		fmt.Fprintf(&b, ", first docker command %s", benchSec(o.typed))
	}
	if o.dockerErr != "" {
		fmt.Fprintf(&b, ", docker error %q", o.dockerErr)
	}
	b.WriteString("; statuses:")
	for _, s := range o.statuses {
		fmt.Fprintf(&b, " [%s %s %q]", benchSec(s.at), s.state, s.message)
	}
	return b.String()
}

// open does what the lab page does: dial the terminal websocket with the
// session cookie, send the size, read frames until the prompt (and Docker)
// are there, and reconnect with backoff after a failure.
func (p *benchPlatform) open(ctx context.Context, u *benchUser, opts benchOpenOpts) *benchOpen {
	ctx, cancel := context.WithTimeout(ctx, benchOpenTimeout)
	defer cancel()
	o := &benchOpen{user: u}
	t0 := time.Now()
	backoff := time.Second
	for {
		ws, ok, why, err := p.attempt(ctx, u, t0, o, opts)
		if err != nil {
			o.err = err
			return o
		}
		if ok {
			switch {
			case ws == nil: // closed after the prompt
			case opts.keep:
				p.keep(ws)
			default:
				benchClose(ws)
			}
			return o
		}
		busy := benchBusyRe.MatchString(why)
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
			o.err = fmt.Errorf("gave up after %d dials in %s; last: %s", o.dials, benchSec(time.Since(t0)), why)
			return o
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// attempt is one websocket connection. On success it returns ok and the
// websocket (nil if it closed once the prompt was there); otherwise a reason
// when the server refused or dropped it (to retry), or an error when time
// ran out.
func (p *benchPlatform) attempt(ctx context.Context, u *benchUser, t0 time.Time, o *benchOpen, opts benchOpenOpts) (ws *websocket.Conn, ok bool, why string, err error) {
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
	if err := ws.WriteMessage(websocket.BinaryMessage, terminal.EncodeSize(80, 24)); err != nil {
		ws.Close()
		return nil, false, "send size: " + err.Error(), nil
	}
	var (
		raw                            []byte
		statuses                       []benchStatus
		shell, prompt, dockerAt, typed time.Duration
		dockerErr, lastErr             string
	)
	deadline, _ := ctx.Deadline()
read:
	for {
		rd := deadline
		if prompt > 0 && dockerAt == 0 && dockerErr == "" {
			if g := t0.Add(prompt + benchDockerGrace); g.Before(rd) {
				rd = g // the status may never come
			}
		}
		ws.SetReadDeadline(rd)
		_, msg, err := ws.ReadMessage()
		now := time.Since(t0)
		if err != nil {
			ws.Close()
			if prompt > 0 && (!opts.probeShell || typed > 0) { // only the Docker status is missing
				ws = nil
				break read
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				return nil, false, "", fmt.Errorf("no prompt after %s (%d dials): %v", benchSec(now), o.dials, err)
			}
			if lastErr != "" {
				return nil, false, lastErr, nil
			}
			return nil, false, "connection dropped: " + err.Error(), nil
		}
		typ, payload, err := terminal.Decode(msg)
		if err != nil {
			continue
		}
		switch typ {
		case terminal.Status:
			var st struct{ State, Message string }
			json.Unmarshal(payload, &st)
			statuses = append(statuses, benchStatus{now, st.State, st.Message})
			switch {
			case st.State == "error" && prompt > 0:
				dockerErr = st.Message // the shell runs, Docker did not come
			case st.State == "error", st.State == "closed":
				lastErr = st.State + ": " + st.Message // the close follows
			case st.State == "ready" && shell == 0:
				shell = now
			}
			if dockerAt == 0 && benchDockerReady(st.State, st.Message) {
				dockerAt = now
			}
		case terminal.Output:
			if len(raw) < 256<<10 {
				raw = append(raw, payload...)
			}
			text := benchANSIRe.ReplaceAll(raw, nil)
			if prompt == 0 && benchPromptRe.Match(text) {
				prompt = now
				if opts.probeShell {
					ws.WriteMessage(websocket.BinaryMessage, terminal.Encode(terminal.Input, []byte(benchProbe)))
				}
			}
			if prompt > 0 && typed == 0 && opts.probeShell && bytes.Contains(text, []byte(benchMarker+"\r\n")) {
				typed = now
			}
		}
		if prompt > 0 && (dockerAt > 0 || dockerErr != "") && (!opts.probeShell || typed > 0) {
			break read
		}
	}
	o.shell, o.prompt, o.docker, o.dockerErr, o.typed, o.statuses = shell, prompt, dockerAt, dockerErr, typed, statuses
	return ws, true, "", nil
}

// openAll opens the lab for users, at most par at once (0: all at the same
// instant), and returns their results in order.
func (p *benchPlatform) openAll(users []*benchUser, par int, opts benchOpenOpts) []*benchOpen {
	if par <= 0 {
		par = len(users)
	}
	out := make([]*benchOpen, len(users))
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
			out[i] = p.open(context.Background(), u, opts)
		}()
	}
	time.Sleep(50 * time.Millisecond) // every goroutine waits at the gate
	close(gate)
	wg.Wait()
	return out
}

// benchSummary gathers the timings of successful opens.
type benchSummary struct {
	prompt, docker, typed benchDist
	failed                []*benchOpen
	dials, busy, others   int
	maxRetries            int
}

// benchNoteFailures lists the failed tries under the table.
func benchNoteFailures(b *testing.B, label string, opens []*benchOpen) {
	for _, o := range opens {
		for _, f := range o.failures {
			benchNote(b, "- %s: %s had a failed try (retried): %s", label, o.user.name, f)
		}
		if o.err != nil {
			benchNote(b, "- %s: %s failed: %v", label, o.user.name, o.err)
		}
	}
}

// errors says how many opens failed, or needed a retry after an error.
func (s benchSummary) errors() string {
	var out string
	if s.others > 0 {
		out += fmt.Sprintf("; **%d failed tries, retried** (see the log)", s.others)
	}
	if len(s.failed) > 0 {
		out += fmt.Sprintf("; **%d failed**", len(s.failed))
	}
	return out
}

func benchSummarize(opens []*benchOpen) benchSummary {
	var s benchSummary
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

// benchPhases is the mean time from the dial to each status message (in
// the order they first came) and to the prompt: where the start time goes.
func benchPhases(opens []*benchOpen) string {
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
		fmt.Fprintf(&b, "\n    %7s  %s (n=%d)", benchSec(a.sum/time.Duration(a.n)), k, a.n)
	}
	b.WriteString("\n")
	return b.String()
}

// ---- host measurements --------------------------------------------------

type benchMem struct{ total, avail uint64 } // bytes, /proc/meminfo

func (m benchMem) used() uint64 { return m.total - m.avail }

func benchMeminfo() benchMem {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return benchMem{}
	}
	defer f.Close()
	var m benchMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "MemTotal:":
			m.total = v << 10
		case "MemAvailable:":
			m.avail = v << 10
		}
	}
	return m
}

func benchLoad() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchRunning counts the containers running on the daemon (ours and others').
func benchRunning() int {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return -1
	}
	defer cli.Close()
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{})
	if err != nil {
		return -1
	}
	return len(cs.Items)
}

func benchMiB(n uint64) float64 { return float64(n) / (1 << 20) }

// benchCgroup is one container's memory and CPU from the daemon's stats
// (the host's cgroup of the whole sandbox: its dockerd, shell, everything).
type benchCgroup struct {
	usage, cache, inactiveFile, rss uint64
	cpu                             uint64 // ns of CPU used so far
}

// working is what `docker stats` shows: usage minus inactive file pages.
func (c benchCgroup) working() uint64 { return c.usage - min(c.usage, c.inactiveFile) }

// noCache is usage minus the whole page cache.
func (c benchCgroup) noCache() uint64 { return c.usage - min(c.usage, c.cache) }

// cgroup reads a sandbox's cgroup from the host's files (cgroup v1 with
// the cgroupfs driver, as here), else asks the daemon (a stats sample takes
// about a second on Docker 20.10).
func (p *benchPlatform) cgroup(name string) (benchCgroup, error) {
	id, err := p.containerID(name)
	if err != nil {
		return benchCgroup{}, err
	}
	if c, ok := benchCgroupV1(id); ok {
		return c, nil
	}
	return p.cgroupAPI(name)
}

func (p *benchPlatform) containerID(name string) (string, error) {
	p.mu.Lock()
	id, ok := p.ids[name]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := p.docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.ids[name] = info.Container.ID
	p.mu.Unlock()
	return info.Container.ID, nil
}

func benchReadUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func benchCgroupV1(id string) (benchCgroup, bool) {
	mem := "/sys/fs/cgroup/memory/docker/" + id
	usage, err := benchReadUint(mem + "/memory.usage_in_bytes")
	if err != nil {
		return benchCgroup{}, false
	}
	stat, err := os.ReadFile(mem + "/memory.stat")
	if err != nil {
		return benchCgroup{}, false
	}
	c := benchCgroup{usage: usage}
	for _, line := range strings.Split(string(stat), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "total_cache":
			c.cache = n
		case "total_inactive_file":
			c.inactiveFile = n
		case "total_rss":
			c.rss = n
		}
	}
	c.cpu, _ = benchReadUint("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage")
	return c, true
}

func (p *benchPlatform) cgroupAPI(name string) (benchCgroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := p.docker.ContainerStats(ctx, name, client.ContainerStatsOptions{})
	if err != nil {
		return benchCgroup{}, err
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return benchCgroup{}, err
	}
	st := s.MemoryStats.Stats
	pick := func(keys ...string) uint64 { // cgroup v1 names first, then v2
		for _, k := range keys {
			if v, ok := st[k]; ok {
				return v
			}
		}
		return 0
	}
	return benchCgroup{
		usage:        s.MemoryStats.Usage,
		cache:        pick("total_cache", "file"),
		inactiveFile: pick("total_inactive_file", "inactive_file"),
		rss:          pick("total_rss", "anon"),
		cpu:          s.CPUStats.CPUUsage.TotalUsage,
	}, nil
}

// benchShimPss is the proportional memory of the containerd shim that
// holds container id: a per-sandbox cost outside the sandbox's cgroup.
func benchShimPss(id string) (uint64, bool) {
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("containerd-shim")) || !bytes.Contains(cmd, []byte(id)) {
			continue
		}
		roll, err := os.ReadFile("/proc/" + d.Name() + "/smaps_rollup")
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(string(roll), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// ---- the benchmarks -------------------------------------------------------

// BenchmarkOpenLab: one student at a time opens the lab on a fresh
// sandbox; from the websocket dial to the prompt, to the "Docker is ready"
// status, and to the answer of the first docker command typed at the
// prompt. Then reopening a running sandbox (a page reload: the floor a warm
// pool could reach) and resuming a stopped one (after idle-stop).
func BenchmarkOpenLab(b *testing.B) {
	benchGate(b)
	n := benchEnvInt("HANDSON_BENCH_N", 10)
	p := newBenchPlatform(b, config.Default().MaxStarts)
	users := p.newUsers(n + 1)
	opts := benchOpenOpts{retryBusy: true, retryAny: true, probeShell: true}

	// The first sandbox after an image build reads the image from disk;
	// it is reported apart.
	warm := p.open(context.Background(), users[0], opts)
	if warm.err != nil {
		b.Fatalf("warm-up open: %v", warm)
	}
	benchLogf(b, "warm-up (not counted): %v", warm)

	var opens []*benchOpen
	for _, u := range users[1:] {
		o := p.open(context.Background(), u, opts)
		benchLogf(b, "%v", o)
		if o.err != nil {
			b.Errorf("open the lab for %s: %v", u.name, o.err)
		}
		opens = append(opens, o)
	}
	s := benchSummarize(opens)
	b.ReportMetric(s.prompt.pct(50).Seconds(), "s-prompt-p50")
	b.ReportMetric(s.prompt.pct(95).Seconds(), "s-prompt-p95")
	b.ReportMetric(s.docker.pct(50).Seconds(), "s-docker-p50")
	b.ReportMetric(s.docker.pct(95).Seconds(), "s-docker-p95")
	benchRow(b, fmt.Sprintf("open lab → prompt, fresh sandbox, one at a time (n=%d)", len(s.prompt)),
		s.prompt.String()+s.errors(), "p50 ≤ 1.5 s", benchMet(s.prompt.pct(50) <= benchTargetPromptP50))
	benchRow(b, "open lab → \"Docker is ready\" status, same opens", s.docker.String(), "—", "—")
	benchRow(b, "open lab → first `docker info` typed at the prompt answers", s.typed.String(), "—", "—")
	benchNoteFailures(b, "one at a time", opens)
	benchNote(b, "Where the time goes (one at a time, mean time from the dial; warm-up excluded):%s", benchPhases(opens))
	benchLogf(b, "warm-up sandbox (first after start): prompt %s, Docker ready %s", benchSec(warm.prompt), benchSec(warm.docker))

	// New shells in running sandboxes: a reconnect that does not resume
	// its session.
	var reopens []*benchOpen
	measured := users[1:]
	split := min(5, len(measured))
	for _, u := range measured[:split] {
		o := p.open(context.Background(), u, benchOpenOpts{retryBusy: true})
		benchLogf(b, "reopen: %v", o)
		if o.err == nil {
			reopens = append(reopens, o)
		}
	}
	r := benchSummarize(reopens)
	b.ReportMetric(r.prompt.pct(50).Seconds(), "s-reopen-p50")
	benchRow(b, "new shell in a running sandbox (reconnect without session resume) → prompt", r.prompt.String(), "—", "—")

	// The same through the engine: what a reopen (or a pooled sandbox)
	// costs in the server's calls.
	var status, shell benchDist
	for _, u := range measured[:split] {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t0 := time.Now()
		_, err := p.a.Engine.Status(ctx, u.key(), false)
		t1 := time.Now()
		if err == nil {
			var tty sandbox.TTY
			sb := &sandbox.Sandbox{ID: p.name(u), Name: p.name(u), Key: u.key()}
			if tty, err = p.a.Engine.Shell(ctx, sb, 80, 24); err == nil {
				_, err = tty.Read(make([]byte, 4096))
				tty.Close()
			}
		}
		t2 := time.Now()
		cancel()
		if err != nil {
			b.Errorf("engine calls on %s: %v", u.name, err)
			continue
		}
		status, shell = append(status, t1.Sub(t0)), append(shell, t2.Sub(t1))
	}
	benchRow(b, "running sandbox, engine calls: `Status` (inspect + one stats sample)", status.String(), "—", "—")
	benchRow(b, "running sandbox, engine calls: `Shell` (exec create, attach, resize) → first output", shell.String(), "—", "—")

	// Resume sandboxes stopped for idleness (their files kept).
	var resumes []*benchOpen
	for _, u := range measured[split:min(len(measured), split+3)] {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := p.a.Engine.Stop(ctx, u.key())
		cancel()
		if err != nil {
			b.Errorf("stop %s: %v", u.name, err)
			continue
		}
		o := p.open(context.Background(), u, opts)
		benchLogf(b, "resume: %v", o)
		if o.err == nil {
			resumes = append(resumes, o)
		}
	}
	if len(resumes) > 0 {
		rs := benchSummarize(resumes)
		benchRow(b, "resume a stopped sandbox (after idle-stop) → prompt", rs.prompt.String(), "—", "—")
		benchRow(b, "resume a stopped sandbox → \"Docker is ready\"", rs.docker.String(), "—", "—")
	}
}

// BenchmarkOpenLabConcurrent: 10 students open the lab at the same instant;
// those told "busy" reconnect after 1 s, 2 s, 4 s… as the browser does.
// Times run from each student's first dial.
func BenchmarkOpenLabConcurrent(b *testing.B) {
	benchGate(b)
	n := benchEnvInt("HANDSON_BENCH_CONCURRENT", 10)
	type variant struct{ maxStarts, pool int }
	for _, v := range []variant{{config.Default().MaxStarts, 0}, {n, 0}, {config.Default().MaxStarts, n}} {
		name := fmt.Sprintf("max-starts=%d", v.maxStarts)
		if v.pool > 0 {
			name += fmt.Sprintf(",warm-pool=%d", v.pool)
		}
		b.Run(name, func(b *testing.B) {
			maxStarts := v.maxStarts
			p := newBenchPlatform(b, maxStarts, func(c *config.Config) { c.WarmPool = v.pool })
			if v.pool > 0 {
				benchLogf(b, "warm pool of %d full after %s", v.pool, benchSec(p.waitWarm(benchLab, v.pool, 10*time.Minute)))
			}
			users := p.newUsers(n)
			opens := p.openAll(users, 0, benchOpenOpts{retryBusy: true, retryAny: true, probeShell: true})
			for _, o := range opens {
				benchLogf(b, "%v", o)
			}
			s := benchSummarize(opens)
			b.ReportMetric(s.prompt.pct(50).Seconds(), "s-prompt-p50")
			b.ReportMetric(s.prompt.pct(95).Seconds(), "s-prompt-p95")
			b.ReportMetric(s.docker.pct(95).Seconds(), "s-docker-p95")
			b.ReportMetric(float64(s.dials-len(opens)), "retries")
			label := fmt.Sprintf("%d students at once, max-starts %d", n, maxStarts)
			if v.pool > 0 {
				label += fmt.Sprintf(", warm pool %d (full)", v.pool)
			}
			result := s.prompt.String()
			if len(s.failed) > 0 {
				result += fmt.Sprintf("; **%d failed**", len(s.failed))
			}
			benchNoteFailures(b, label, opens)
			benchRow(b, label+": open → prompt", result, "p95 ≤ 5 s",
				benchMet(len(s.failed) == 0 && s.prompt.pct(95) <= benchTargetCrowdP95))
			benchRow(b, label+": open → \"Docker is ready\"", s.docker.String(), "—", "—")
			benchRow(b, label+": first docker command answers", s.typed.String(), "—", "—")
			benchRow(b, label+": reconnects", fmt.Sprintf("%d (%d after \"busy\", %d after other errors); at most %d for one student",
				s.dials-len(opens), s.busy, s.others, s.maxRetries), "—", "—")
			for _, o := range s.failed {
				benchNote(b, "- %s failed: %v", label, o.err)
			}
		})
	}
}

// BenchmarkWarmPool: opening the lab when the pool (-warm-pool) has a
// ready sandbox for it: the student's sandbox is a warm one renamed. Opens
// come one after the other while the pool refills in the background; after
// each round the pool is let fill up again.
func BenchmarkWarmPool(b *testing.B) {
	benchGate(b)
	size := benchEnvInt("HANDSON_BENCH_POOL", 5)
	n := benchEnvInt("HANDSON_BENCH_N", 10)
	p := newBenchPlatform(b, config.Default().MaxStarts, func(c *config.Config) { c.WarmPool = size })
	fill := p.waitWarm(benchLab, size, 5*time.Minute)
	benchLogf(b, "warm pool of %d for %s full after %s", size, benchLab, benchSec(fill))
	var opens []*benchOpen
	misses := 0
	for len(opens) < n {
		if len(opens) > 0 {
			p.waitWarm(benchLab, size, 5*time.Minute)
		}
		for _, u := range p.newUsers(min(size, n-len(opens))) {
			o := p.open(context.Background(), u, benchOpenOpts{retryBusy: true, retryAny: true, probeShell: true})
			benchLogf(b, "%v", o)
			if o.err != nil {
				b.Errorf("open the lab for %s: %v", u.name, o.err)
			}
			if o.dials > 1 {
				misses++ // its first try failed; the retry may not be from the pool
			}
			for _, st := range o.statuses {
				if st.state == "starting" { // "Creating…", "Starting…": not from the pool
					misses++
					break
				}
			}
			opens = append(opens, o)
		}
	}
	s := benchSummarize(opens)
	b.ReportMetric(s.prompt.pct(50).Seconds(), "s-prompt-p50")
	b.ReportMetric(s.prompt.pct(95).Seconds(), "s-prompt-p95")
	result := s.prompt.String() + s.errors()
	if misses > 0 {
		result += fmt.Sprintf("; %d of %d not from the pool or retried", misses, len(opens))
	}
	benchRow(b, fmt.Sprintf("warm pool (%d ready): open lab → prompt, one at a time while it refills", size),
		result, "≤ 0.3 s", benchMet(misses == 0 && s.prompt.pct(50) <= benchTargetPool))
	benchRow(b, "warm pool: open lab → \"Docker is ready\"", s.docker.String(), "—", "—")
	benchRow(b, "warm pool: open lab → first docker command answers", s.typed.String(), "—", "—")
	benchRow(b, fmt.Sprintf("warm pool: filling %d warm sandboxes after the server starts", size), benchSec(fill), "—", "—")
	benchNoteFailures(b, "warm pool", opens)
	benchNote(b, "Where the time goes with a warm sandbox (mean time from the dial):%s", benchPhases(opens))
}

// BenchmarkIdleMemory: N students open the lab and leave it idle (shell
// open); then each sandbox's memory from the host's view.
func BenchmarkIdleMemory(b *testing.B) {
	benchGate(b)
	n := benchEnvInt("HANDSON_BENCH_IDLE_N", 10)
	idle := benchEnvDuration("HANDSON_BENCH_IDLE", 20*time.Second)
	maxStarts := config.Default().MaxStarts
	p := newBenchPlatform(b, maxStarts)
	users := p.newUsers(n)
	before := benchMeminfo()
	opens := p.openAll(users, maxStarts, benchOpenOpts{retryBusy: true, keep: true})
	for _, o := range opens {
		if o.err != nil {
			b.Fatalf("open for %s: %v", o.user.name, o.err)
		}
	}
	time.Sleep(2 * time.Second) // the last Docker-ready status is sent after the prompt
	cpu0 := map[string]uint64{}
	for _, u := range users {
		c, err := p.cgroup(p.name(u))
		if err != nil {
			b.Fatal(err)
		}
		cpu0[p.name(u)] = c.cpu
	}
	t0 := time.Now()
	time.Sleep(idle)
	elapsed := time.Since(t0)
	after := benchMeminfo()

	var working, noCache, rss, cpu, shim []float64
	for _, u := range users {
		c, err := p.cgroup(p.name(u))
		if err != nil {
			b.Fatal(err)
		}
		if id, err := p.containerID(p.name(u)); err == nil {
			if pss, ok := benchShimPss(id); ok {
				shim = append(shim, benchMiB(pss))
			}
		}
		working = append(working, benchMiB(c.working()))
		noCache = append(noCache, benchMiB(c.noCache()))
		rss = append(rss, benchMiB(c.rss))
		cpu = append(cpu, float64(c.cpu-cpu0[p.name(u)])/float64(elapsed.Nanoseconds())*100)
		benchLogf(b, "%s: usage %.1f MiB, cache %.1f, inactive file %.1f, rss %.1f MiB; CPU %.2f%%", u.name,
			benchMiB(c.usage), benchMiB(c.cache), benchMiB(c.inactiveFile), benchMiB(c.rss), cpu[len(cpu)-1])
	}
	mean := func(xs []float64) float64 {
		var s float64
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	hostPer := (float64(after.used()) - float64(before.used())) / float64(n) / (1 << 20)
	b.ReportMetric(mean(working), "MiB-working-mean")
	b.ReportMetric(slices.Max(working), "MiB-working-max")
	b.ReportMetric(hostPer, "MiB-host-per-sandbox")
	label := fmt.Sprintf("idle sandbox memory, %d sandboxes idle %s with a shell open", n, idle)
	benchRow(b, label+": cgroup usage − inactive file (`docker stats`)",
		fmt.Sprintf("mean %.1f MiB, max %.1f MiB", mean(working), slices.Max(working)), "≤ 60 MiB",
		benchMet(slices.Max(working) <= benchTargetIdleMiB))
	benchRow(b, label+": cgroup usage − page cache (rss + kernel)",
		fmt.Sprintf("mean %.1f MiB, max %.1f MiB (rss alone: mean %.1f MiB)", mean(noCache), slices.Max(noCache), mean(rss)), "≤ 60 MiB",
		benchMet(slices.Max(noCache) <= benchTargetIdleMiB))
	if len(shim) > 0 {
		benchRow(b, label+": outside the cgroup, its containerd-shim (PSS)",
			fmt.Sprintf("mean %.1f MiB, max %.1f MiB", mean(shim), slices.Max(shim)), "—", "—")
	}
	benchRow(b, label+": host used memory (MemTotal − MemAvailable) increase / N",
		fmt.Sprintf("%.1f MiB per sandbox (noisy: other work on the host moves it)", hostPer), "—", "—")
	benchRow(b, label+": CPU per idle sandbox (its cgroup, health probes included)",
		fmt.Sprintf("mean %.2f%%, max %.2f%% of a core", mean(cpu), slices.Max(cpu)), "—", "—")
}

// BenchmarkDensity: sandboxes start in batches and stay idle (shell open)
// until HANDSON_BENCH_DENSITY run, a start fails, or memory runs short;
// host used memory against the count gives the cost of one more sandbox
// and how many fit.
func BenchmarkDensity(b *testing.B) {
	benchGate(b)
	target := benchEnvInt("HANDSON_BENCH_DENSITY", 50)
	batch := benchEnvInt("HANDSON_BENCH_BATCH", 5)
	settle := benchEnvDuration("HANDSON_BENCH_SETTLE", 10*time.Second)
	p := newBenchPlatform(b, batch)

	type point struct {
		count          int
		used, avail    uint64  // host
		cgroups        uint64  // Σ sandbox cgroups, usage − inactive file
		cpu            float64 // Σ sandbox cgroups while idle, % of one core
		load           string
		prompt, docker benchDist // of the batch that just started
		sweep          time.Duration
	}
	sample := func(users []*benchUser) (mem, cpu uint64) {
		for _, u := range users {
			if c, err := p.cgroup(p.name(u)); err == nil {
				mem += c.working()
				cpu += c.cpu
			}
		}
		return mem, cpu
	}
	m0 := benchMeminfo()
	points := []point{{count: 0, used: m0.used(), avail: m0.avail, load: benchLoad()}}
	var all []*benchUser
	stop := "reached the target count"
	for len(all) < target {
		users := p.newUsers(min(batch, target-len(all)))
		opens := p.openAll(users, 0, benchOpenOpts{retryBusy: true, keep: true})
		s := benchSummarize(opens)
		for _, o := range opens {
			if o.err == nil {
				all = append(all, o.user)
			}
		}
		_, cpu0 := sample(all)
		t0 := time.Now()
		if len(s.failed) == 0 { // else stop at once: the failure may hurt others on this daemon
			time.Sleep(settle)
		}
		mem, cpu1 := sample(all)
		pt := point{count: len(all), cgroups: mem, cpu: float64(cpu1-cpu0) / float64(time.Since(t0).Nanoseconds()) * 100,
			prompt: s.prompt, docker: s.docker}
		m := benchMeminfo()
		pt.used, pt.avail, pt.load = m.used(), m.avail, benchLoad()
		// One health sweep over every sandbox, as the manager runs every
		// 15 s: it must stay well under that interval.
		if len(s.failed) == 0 {
			ts := time.Now()
			if err := p.a.Server.Sandboxes.Sweep(context.Background(), false); err != nil {
				benchLogf(b, "sweep: %v", err)
			}
			pt.sweep = time.Since(ts)
		}
		points = append(points, pt)
		benchLogf(b, "density: %d sandboxes; host used %.0f MiB, available %.0f MiB, sandbox cgroups %.0f MiB, idle CPU %.0f%%, load %s; batch prompt %v, Docker ready %v; one sweep %s",
			pt.count, benchMiB(pt.used), benchMiB(pt.avail), benchMiB(pt.cgroups), pt.cpu, pt.load, pt.prompt, pt.docker, benchSec(pt.sweep))
		if len(s.failed) > 0 {
			stop = fmt.Sprintf("a start failed with %d running: %s", len(all), p.log.lastError())
			for _, o := range s.failed {
				benchLogf(b, "failed: %v", o)
			}
			break
		}
		if m.avail < m.total/10 {
			stop = "available memory under 10%"
			break
		}
		if s.prompt.pct(100) > 2*time.Minute {
			stop = "a start took over 2 minutes"
			break
		}
	}
	// Least squares fits against the count: the slope is one more sandbox.
	fit := func(y func(point) float64) (slope, icept float64) {
		var sx, sy, sxx, sxy float64
		for _, pt := range points {
			if pt.count > 0 && pt.sweep == 0 {
				continue // cut short by a failure: not idle yet
			}
			x := float64(pt.count)
			sx, sy, sxx, sxy = sx+x, sy+y(pt), sxx+x*x, sxy+x*y(pt)
		}
		k := 0.0
		for _, pt := range points {
			if pt.count == 0 || pt.sweep > 0 {
				k++
			}
		}
		slope = (k*sxy - sx*sy) / (k*sxx - sx*sx)
		return slope, (sy - slope*sx) / k
	}
	hostSlope, hostIcept := fit(func(pt point) float64 { return benchMiB(pt.used) })
	cgSlope, _ := fit(func(pt point) float64 { return benchMiB(pt.cgroups) })
	cpuSlope, _ := fit(func(pt point) float64 { return pt.cpu })
	totalMiB := benchMiB(m0.total)
	slope := max(hostSlope, cgSlope) // the host fit is noisy; take the larger
	fits := (0.9*totalMiB - hostIcept) / slope
	last := points[len(points)-1]
	settled := last // the last step that idled and swept (not one cut short by a failure)
	for _, pt := range points {
		if pt.sweep > 0 {
			settled = pt
		}
	}
	b.ReportMetric(float64(last.count), "sandboxes")
	b.ReportMetric(hostSlope, "MiB-host-per-sandbox")
	b.ReportMetric(cgSlope, "MiB-cgroup-per-sandbox")
	b.ReportMetric(fits, "fit-at-90pct-RAM")

	benchRow(b, "density: idle sandboxes running at once", fmt.Sprintf("%d (stopped: %s)", last.count, stop),
		fmt.Sprintf("≥ %d tried", target), benchMet(last.count >= target))
	benchRow(b, "density: memory per idle sandbox, slope of host used memory vs count",
		fmt.Sprintf("%.1f MiB (Σ sandbox cgroups: %.1f MiB)", hostSlope, cgSlope), "≤ 60 MiB", benchMet(slope <= benchTargetIdleMiB))
	benchRow(b, "density: idle sandboxes that fit in 90% of RAM (extrapolated with the larger slope)",
		fmt.Sprintf("≈ %.0f (%.0f MiB RAM, %.0f MiB used with none)", fits, totalMiB, hostIcept), "—", "—")
	benchRow(b, "density: CPU of idle sandboxes (Σ cgroups, health probes included)",
		fmt.Sprintf("%.1f%% of one core per sandbox (%.0f%% with %d); one health sweep took %s with %d",
			cpuSlope, settled.cpu, settled.count, benchSec(settled.sweep), settled.count), "—", "—")
	var t strings.Builder
	t.WriteString("Density ramp (batches of " + strconv.Itoa(batch) + " started at once, then " + settle.String() + " idle; a step cut short by a failed start is not idle and not in the fits):\n\n")
	t.WriteString("| sandboxes | host used MiB | available MiB | Σ sandbox cgroups MiB | Σ idle CPU | load 1/5/15 min | batch: prompt p50 / max | batch: Docker ready p50 / max | one health sweep |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, pt := range points {
		pr, dr, sw, cpu := "—", "—", "—", "—"
		if pt.count == 0 || pt.sweep > 0 {
			cpu = fmt.Sprintf("%.0f%%", pt.cpu)
		}
		if len(pt.prompt) > 0 {
			pr = benchSec(pt.prompt.pct(50)) + " / " + benchSec(pt.prompt.pct(100))
		}
		if len(pt.docker) > 0 {
			dr = benchSec(pt.docker.pct(50)) + " / " + benchSec(pt.docker.pct(100))
		}
		if pt.sweep > 0 {
			sw = benchSec(pt.sweep)
		}
		fmt.Fprintf(&t, "| %d | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s |\n", pt.count, benchMiB(pt.used), benchMiB(pt.avail), benchMiB(pt.cgroups), cpu, pt.load, pr, dr, sw)
	}
	benchNote(b, "%s", strings.TrimRight(t.String(), "\n"))
}

// benchLog keeps the server's log for a failure report.
type benchLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *benchLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 4<<20 {
		l.buf.Next(2 << 20)
	}
	return l.buf.Write(p)
}

// lastError is the err of the server's last logged error or warning (what
// the student's "Internal error." hides).
func (l *benchLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(l.buf.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if !strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		if _, e, ok := strings.Cut(line, " err="); ok {
			if u, err := strconv.Unquote(e); err == nil {
				return u
			}
			return e
		}
		return line
	}
	return ""
}

func (l *benchLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	return string(b[max(0, len(b)-n):])
}
