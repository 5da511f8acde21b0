package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"handson/internal/config"
	"handson/internal/sandbox"
)

// Targets from the issue.
const (
	targetPromptP50   = 1500 * time.Millisecond
	targetCrowdP95    = 5 * time.Second  // 10 students at once
	targetClassP95    = 20 * time.Second // 40
	targetPreparedP95 = time.Second
	targetPool        = 300 * time.Millisecond
	targetIdleMiB     = 60.0
)

// A scenario measures one thing on platforms of its own.
type scenario struct {
	name  string
	about string
	run   func(ctx context.Context, r *run, o options) error
}

var scenarios = []scenario{
	{"open", "-students students one after the other, each on a fresh sandbox (after one unmeasured warm-up); then a new shell in up to 5 running sandboxes, the same through the engine's calls, and up to 3 sandboxes stopped (as by idle-stop) and opened again", openLab},
	{"open-concurrent", "-students students dial at the same instant, three times on a platform each: the server's default max-starts (4), max-starts = -students, the default with a full warm pool of -students, and the default with the students' class prepared (its page's button) before they come", openConcurrent},
	{"warm-pool", "a warm pool of -pool; once it is full, -students students open one after the other while it refills, and after each -pool of them it is let fill up again", warmPool},
	{"idle-memory", "-students sandboxes opened (4 at a time), shells left open, -idle idle; then each one's cgroup, its containerd-shim and the host's used memory", idleMemory},
	{"density", "batches of -batch sandboxes opened at once, shells left open, -settle idle after each, until -density run, a start fails or less than 10% of RAM is available; memory and CPU against the count, one health sweep at each step", density},
}

// options are the scenarios' knobs (the flags).
type options struct {
	students int           // open, open-concurrent, warm-pool, idle-memory
	pool     int           // warm-pool
	idle     time.Duration // idle-memory
	density  int           // density: the count tried
	batch    int           // density
	settle   time.Duration // density: idle after each batch
}

// openLab: one student at a time opens the lab on a fresh sandbox; from
// the websocket dial to the prompt, to the "ready" status, and to the
// answer of the first docker command typed at the prompt. Then reopening
// a running sandbox (a page reload: the floor a warm pool could reach) and
// resuming a stopped one (after idle-stop).
func openLab(ctx context.Context, r *run, o options) error {
	p, err := r.startPlatform(ctx, config.Default().MaxStarts, 0)
	if err != nil {
		return err
	}
	users, err := p.newStudents(ctx, o.students+1)
	if err != nil {
		return err
	}
	opts := openOpts{retryBusy: true, retryAny: true, probeShell: true}

	// The first sandbox after an image build reads the image from disk;
	// it is left out.
	warm := p.open(ctx, users[0], opts)
	if warm.err != nil {
		return fmt.Errorf("warm-up open: %v", warm)
	}
	r.logf("warm-up (not counted): %v", warm)

	var opens []*opening
	for _, u := range users[1:] {
		op := p.open(ctx, u, opts)
		r.logf("%v", op)
		if op.err != nil {
			r.res.errorf("open the lab for %s: %v", u.name, op.err)
		}
		opens = append(opens, op)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s := summarize(opens)
	r.res.distRow("open lab → prompt, fresh sandbox, one at a time", "p50 ≤ 1.5 s",
		met(len(s.prompt) > 0 && s.prompt.pct(50) <= targetPromptP50), s.prompt, s.failures()...)
	r.res.distRow("open lab → \"ready\" status, same opens", "", nil, s.docker)
	r.res.distRow("open lab → first `docker info` typed at the prompt answers", "", nil, s.typed)
	r.noteFailures("one at a time", opens)
	r.res.note("Where the time goes (one at a time, mean time from the dial; warm-up excluded):%s", phases(opens))

	// New shells in running sandboxes: a reconnect that does not resume
	// its session.
	var reopens []*opening
	measured := users[1:]
	split := min(5, len(measured))
	for _, u := range measured[:split] {
		op := p.open(ctx, u, openOpts{retryBusy: true})
		r.logf("reopen: %v", op)
		if op.err == nil {
			reopens = append(reopens, op)
		}
	}
	r.res.distRow("new shell in a running sandbox (reconnect without session resume) → prompt", "", nil, summarize(reopens).prompt)

	// The same through the engine: what a reopen (or a pooled sandbox)
	// costs in the server's calls.
	var status, shell dist
	for _, u := range measured[:split] {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		t0 := time.Now()
		_, err := p.a.Engine.Status(cctx, u.key(), false)
		t1 := time.Now()
		if err == nil {
			var tty sandbox.TTY
			sb := &sandbox.Sandbox{ID: p.name(u), Name: p.name(u), Key: u.key()}
			if tty, err = p.a.Engine.Shell(cctx, sb, 80, 24); err == nil {
				_, err = tty.Read(make([]byte, 4096))
				tty.Close()
			}
		}
		t2 := time.Now()
		cancel()
		if err != nil {
			r.res.errorf("engine calls on %s: %v", u.name, err)
			continue
		}
		status, shell = append(status, t1.Sub(t0)), append(shell, t2.Sub(t1))
	}
	r.res.distRow("running sandbox, engine calls: `Status` (inspect)", "", nil, status)
	r.res.distRow("running sandbox, engine calls: `Shell` (exec create, attach, resize) → first output", "", nil, shell)

	// Resume sandboxes stopped for idleness (their files kept): the last
	// three (with fewer students, some were reopened above too).
	var resumes []*opening
	for _, u := range measured[len(measured)-min(3, len(measured)):] {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := p.a.Engine.Stop(cctx, u.key())
		cancel()
		if err != nil {
			r.res.errorf("stop %s: %v", u.name, err)
			continue
		}
		op := p.open(ctx, u, opts)
		r.logf("resume: %v", op)
		if op.err == nil {
			resumes = append(resumes, op)
		}
	}
	if len(resumes) > 0 {
		rs := summarize(resumes)
		r.res.distRow("resume a stopped sandbox (after idle-stop) → prompt", "", nil, rs.prompt)
		r.res.distRow("resume a stopped sandbox → \"ready\" status", "", nil, rs.docker)
	}
	return ctx.Err()
}

// openConcurrent: students open the lab at the same instant; those told
// "busy" reconnect after 1 s, 2 s, 4 s… as the browser does. Times run
// from each student's first dial.
func openConcurrent(ctx context.Context, r *run, o options) error {
	n := o.students
	type variant struct {
		maxStarts, pool int
		prepared        bool // the class prepared before the students come
	}
	def := config.Default().MaxStarts
	for _, v := range []variant{{def, 0, false}, {n, 0, false}, {def, n, false}, {def, 0, true}} {
		label := fmt.Sprintf("%d students at once, max-starts %d", n, v.maxStarts)
		if v.pool > 0 {
			label += fmt.Sprintf(", warm pool %d (full)", v.pool)
		}
		if v.prepared {
			label += ", class prepared"
		}
		if err := r.sub(label, func() error {
			p, err := r.startPlatform(ctx, v.maxStarts, v.pool)
			if err != nil {
				return err
			}
			if v.pool > 0 {
				took, err := p.waitWarm(ctx, benchLab, v.pool, 10*time.Minute)
				if err != nil {
					return err
				}
				r.logf("warm pool of %d full after %s", v.pool, fmtSec(took))
			}
			users, err := p.newStudents(ctx, n)
			if err != nil {
				return err
			}
			if v.prepared {
				took, ready, failed, err := p.prepareClass(ctx, users, 15*time.Minute)
				if err != nil {
					return err
				}
				r.res.row(label+": preparing the class (its page's button) until done", "", nil, "",
					secs("", took), count("ready", ready, "lower"), alarm("failed", failed))
			}
			cpu0, t0 := processCPU(), time.Now()
			// The page's Hello: a prepared class's students find their
			// terminals opened ahead.
			opens := p.openAll(ctx, users, 0, openOpts{retryBusy: true, retryAny: true, probeShell: true, hello: v.prepared})
			cores := (processCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
			for _, op := range opens {
				r.logf("%v", op)
			}
			s := summarize(opens)
			r.noteFailures(label, opens)
			r.res.row(label+": this process's CPU during the burst (the server, and the simulated students' websockets)", "≤ 50% of a core", met(cores <= 0.5), "",
				pct("mean", 100*cores))
			target, limit := "p95 ≤ 5 s", targetCrowdP95
			if n > 10 {
				target, limit = "p95 ≤ 20 s", targetClassP95
			}
			if v.prepared {
				target, limit = "p95 ≤ 1 s", targetPreparedP95
			}
			r.res.distRow(label+": open → prompt", target,
				met(len(s.failed) == 0 && len(s.prompt) > 0 && s.prompt.pct(95) <= limit), s.prompt, alarm("failed", len(s.failed)))
			r.res.distRow(label+": open → \"ready\" status", "", nil, s.docker)
			r.res.distRow(label+": first docker command answers", "", nil, s.typed)
			r.res.row(label+": reconnects", "", nil, "",
				count("total", s.dials-len(opens), "higher"), count("after \"busy\"", s.busy, "higher"),
				count("after other errors", s.others, "higher"), count("most for one student", s.maxRetries, "higher"))
			return ctx.Err()
		}); err != nil {
			return err
		}
	}
	return nil
}

// warmPool: opening the lab when the pool (-warm-pool) has a ready sandbox
// for it: the student's sandbox is a warm one renamed. Opens come one
// after the other while the pool refills in the background; after each
// round the pool is let fill up again.
func warmPool(ctx context.Context, r *run, o options) error {
	size, n := o.pool, o.students
	p, err := r.startPlatform(ctx, config.Default().MaxStarts, size)
	if err != nil {
		return err
	}
	fill, err := p.waitWarm(ctx, benchLab, size, 5*time.Minute)
	if err != nil {
		return err
	}
	r.logf("warm pool of %d for %s full after %s", size, benchLab, fmtSec(fill))
	var opens []*opening
	misses := 0
	for len(opens) < n {
		if len(opens) > 0 {
			if _, err := p.waitWarm(ctx, benchLab, size, 5*time.Minute); err != nil {
				return err
			}
		}
		users, err := p.newStudents(ctx, min(size, n-len(opens)))
		if err != nil {
			return err
		}
		for _, u := range users {
			op := p.open(ctx, u, openOpts{retryBusy: true, retryAny: true, probeShell: true})
			r.logf("%v", op)
			if op.err != nil {
				r.res.errorf("open the lab for %s: %v", u.name, op.err)
			}
			if op.dials > 1 {
				misses++ // its first try failed; the retry may not be from the pool
			}
			for _, st := range op.statuses {
				if st.state == "starting" { // "Creating…", "Starting…": not from the pool
					misses++
					break
				}
			}
			opens = append(opens, op)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	s := summarize(opens)
	r.res.distRow(fmt.Sprintf("warm pool (%d ready): open lab → prompt, one at a time while it refills", size), "≤ 0.3 s",
		met(misses == 0 && len(s.prompt) > 0 && s.prompt.pct(50) <= targetPool), s.prompt,
		append(s.failures(), alarm("not from the pool or retried", misses))...)
	r.res.distRow("warm pool: open lab → \"ready\" status", "", nil, s.docker)
	r.res.distRow("warm pool: open lab → first docker command answers", "", nil, s.typed)
	r.res.row(fmt.Sprintf("warm pool: filling %d warm sandboxes after the server starts", size), "", nil, "", secs("", fill))
	r.noteFailures("warm pool", opens)
	r.res.note("Where the time goes with a warm sandbox (mean time from the dial):%s", phases(opens))
	return nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// idleMemory: students open the lab and leave it idle (shell open); then
// each sandbox's memory from the host's view.
func idleMemory(ctx context.Context, r *run, o options) error {
	n := o.students
	maxStarts := config.Default().MaxStarts
	p, err := r.startPlatform(ctx, maxStarts, 0)
	if err != nil {
		return err
	}
	users, err := p.newStudents(ctx, n)
	if err != nil {
		return err
	}
	before := readMeminfo()
	for _, op := range p.openAll(ctx, users, maxStarts, openOpts{retryBusy: true, keep: true}) {
		if op.err != nil {
			return fmt.Errorf("open for %s: %v", op.user.name, op.err)
		}
	}
	if err := sleep(ctx, 2*time.Second); err != nil { // the last "ready" status comes after the prompt
		return err
	}
	cpu0 := map[string]uint64{}
	for _, u := range users {
		c, err := p.cgroup(p.name(u))
		if err != nil {
			return err
		}
		cpu0[p.name(u)] = c.cpu
	}
	t0 := time.Now()
	if err := sleep(ctx, o.idle); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	after := readMeminfo()

	var working, noCache, rss, cpu, shim []float64
	for _, u := range users {
		c, err := p.cgroup(p.name(u))
		if err != nil {
			return err
		}
		if id, err := p.containerID(p.name(u)); err == nil {
			if pss, ok := shimPss(id); ok {
				shim = append(shim, toMiB(pss))
			}
		}
		working = append(working, toMiB(c.working()))
		noCache = append(noCache, toMiB(c.noCache()))
		rss = append(rss, toMiB(c.rss))
		cpu = append(cpu, float64(c.cpu-cpu0[p.name(u)])/float64(elapsed.Nanoseconds())*100)
		r.logf("%s: usage %.1f MiB, cache %.1f, inactive file %.1f, rss %.1f MiB; CPU %.2f%%", u.name,
			toMiB(c.usage), toMiB(c.cache), toMiB(c.inactiveFile), toMiB(c.rss), cpu[len(cpu)-1])
	}
	hostPer := (float64(after.used()) - float64(before.used())) / float64(n) / (1 << 20)
	label := fmt.Sprintf("idle sandbox memory, %d sandboxes idle %s with a shell open", n, o.idle)
	r.res.row(label+": cgroup usage − inactive file (`docker stats`)", "≤ 60 MiB",
		met(slices.Max(working) <= targetIdleMiB), "", mib("mean", mean(working)), mib("max", slices.Max(working)))
	r.res.row(label+": cgroup usage − page cache (rss + kernel)", "≤ 60 MiB",
		met(slices.Max(noCache) <= targetIdleMiB), "", mib("mean", mean(noCache)), mib("max", slices.Max(noCache)), mib("rss alone, mean", mean(rss)))
	if len(shim) > 0 {
		r.res.row(label+": outside the cgroup, its containerd-shim (PSS)", "", nil, "",
			mib("mean", mean(shim)), mib("max", slices.Max(shim)))
	}
	r.res.row(label+": host used memory (MemTotal − MemAvailable) increase / N", "", nil,
		"per sandbox (noisy: other work on the host moves it)", mib("", hostPer))
	r.res.row(label+": CPU per idle sandbox (its cgroup, health probes included)", "", nil, "of a core",
		pct("mean", mean(cpu)), pct("max", slices.Max(cpu)))
	return nil
}

// density: sandboxes start in batches and stay idle (shell open) until
// -density run, a start fails, or memory runs short; host used memory
// against the count gives the cost of one more sandbox and how many fit.
func density(ctx context.Context, r *run, o options) error {
	target, batch, settle := o.density, o.batch, o.settle
	p, err := r.startPlatform(ctx, batch, 0)
	if err != nil {
		return err
	}

	type point struct {
		count          int
		used, avail    uint64  // host
		cgroups        uint64  // Σ sandbox cgroups, usage − inactive file
		cpu            float64 // Σ sandbox cgroups while idle, % of one core
		load           string
		prompt, docker dist // of the batch that just started
		sweep          time.Duration
	}
	sample := func(users []*student) (mem, cpu uint64) {
		for _, u := range users {
			if c, err := p.cgroup(p.name(u)); err == nil {
				mem += c.working()
				cpu += c.cpu
			}
		}
		return mem, cpu
	}
	m0 := readMeminfo()
	points := []point{{count: 0, used: m0.used(), avail: m0.avail, load: loadAverage()}}
	var all []*student
	stop := "reached the target count"
	for len(all) < target {
		users, err := p.newStudents(ctx, min(batch, target-len(all)))
		if err != nil {
			return err
		}
		opens := p.openAll(ctx, users, 0, openOpts{retryBusy: true, keep: true})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s := summarize(opens)
		for _, op := range opens {
			if op.err == nil {
				all = append(all, op.user)
			}
		}
		_, cpu0 := sample(all)
		t0 := time.Now()
		if len(s.failed) == 0 { // else stop at once: the failure may hurt others on this daemon
			if err := sleep(ctx, settle); err != nil {
				return err
			}
		}
		mem, cpu1 := sample(all)
		pt := point{count: len(all), cgroups: mem, cpu: float64(cpu1-cpu0) / float64(time.Since(t0).Nanoseconds()) * 100,
			prompt: s.prompt, docker: s.docker}
		m := readMeminfo()
		pt.used, pt.avail, pt.load = m.used(), m.avail, loadAverage()
		// One health sweep over every sandbox, as the manager runs every
		// 15 s: it must stay well under that interval.
		if len(s.failed) == 0 {
			ts := time.Now()
			if err := p.a.Sandboxes.Sweep(ctx, false); err != nil {
				r.logf("sweep: %v", err)
			}
			pt.sweep = time.Since(ts)
		}
		points = append(points, pt)
		r.logf("density: %d sandboxes; host used %.0f MiB, available %.0f MiB, sandbox cgroups %.0f MiB, idle CPU %.0f%%, load %s; batch prompt %v, Docker ready %v; one sweep %s",
			pt.count, toMiB(pt.used), toMiB(pt.avail), toMiB(pt.cgroups), pt.cpu, pt.load, pt.prompt, pt.docker, fmtSec(pt.sweep))
		if len(s.failed) > 0 {
			stop = fmt.Sprintf("a start failed with %d running: %s", len(all), p.log.lastError())
			for _, op := range s.failed {
				r.logf("failed: %v", op)
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
	hostSlope, hostIcept := fit(func(pt point) float64 { return toMiB(pt.used) })
	cgSlope, _ := fit(func(pt point) float64 { return toMiB(pt.cgroups) })
	cpuSlope, _ := fit(func(pt point) float64 { return pt.cpu })
	totalMiB := toMiB(m0.total)
	slope := max(hostSlope, cgSlope) // the host fit is noisy; take the larger
	fits := (0.9*totalMiB - hostIcept) / slope
	last := points[len(points)-1]
	settled := last // the last step that idled and swept (not one cut short by a failure)
	for _, pt := range points {
		if pt.sweep > 0 {
			settled = pt
		}
	}

	r.res.row("density: idle sandboxes running at once", fmt.Sprintf("≥ %d tried", target), met(last.count >= target),
		"(stopped: "+stop+")", count("", last.count, "lower"))
	r.res.row("density: memory per idle sandbox, slope of host used memory vs count", "≤ 60 MiB", met(slope <= targetIdleMiB), "",
		mib("", hostSlope), mib("Σ sandbox cgroups", cgSlope))
	r.res.row("density: idle sandboxes that fit in 90% of RAM (extrapolated with the larger slope)", "", nil, "",
		count("≈", int(fits+0.5), "lower"), Figure{Name: "RAM", Value: totalMiB, Unit: "MiB"}, Figure{Name: "used with none", Value: hostIcept, Unit: "MiB"})
	r.res.row("density: CPU of idle sandboxes, % of one core (Σ cgroups, health probes included)", "", nil, "",
		pct("per sandbox", cpuSlope), pct("all", settled.cpu), count("sandboxes then", settled.count, ""), secs("one health sweep then", settled.sweep))

	var t strings.Builder
	t.WriteString("Density ramp (batches of " + strconv.Itoa(batch) + " started at once, then " + settle.String() + " idle; a step cut short by a failed start is not idle and not in the fits):\n\n")
	t.WriteString("| sandboxes | host used MiB | available MiB | Σ sandbox cgroups MiB | Σ idle CPU | load 1/5/15 min | batch: prompt p50 / max | batch: Docker ready p50 / max | one health sweep |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, pt := range points {
		pr, dr, sw, cpu := "—", "—", "—", "—"
		if pt.count == 0 || pt.sweep > 0 {
			cpu = fmt.Sprintf("%.0f%%", pt.cpu)
		}
		if len(pt.prompt) > 0 {
			pr = fmtSec(pt.prompt.pct(50)) + " / " + fmtSec(pt.prompt.pct(100))
		}
		if len(pt.docker) > 0 {
			dr = fmtSec(pt.docker.pct(50)) + " / " + fmtSec(pt.docker.pct(100))
		}
		if pt.sweep > 0 {
			sw = fmtSec(pt.sweep)
		}
		fmt.Fprintf(&t, "| %d | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s |\n", pt.count, toMiB(pt.used), toMiB(pt.avail), toMiB(pt.cgroups), cpu, pt.load, pr, dr, sw)
	}
	r.res.note("%s", strings.TrimRight(t.String(), "\n"))
	return nil
}
