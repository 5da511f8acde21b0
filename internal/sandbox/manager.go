package sandbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"sync"
	"time"

	"handson/internal/apperr"
	"handson/internal/i18n"
)

// Policy says when sandboxes stop or go away, and how many start at once.
type Policy struct {
	IdleStop  time.Duration // stop after this long without keystrokes or checks; 0: never
	MaxAge    time.Duration // remove this long after creation; 0: never
	MaxStarts int           // sandboxes starting at once; more wait in line
	DiskLimit int64         // bytes a sandbox may write; 0: not watched
	Interval  time.Duration // how often every sandbox is looked at
	DiskEvery int           // measure disk every this many intervals (it is costly)
	// ProbeEvery: each running sandbox's health is probed every this many
	// intervals, in a turn of its own so the probes spread evenly (one
	// costs the machine about 0.15 CPU-s: forty sandboxes probed every
	// 15 s kept 0.4 of a core busy); one whose last probe failed is probed
	// at every interval.
	ProbeEvery int
	WarmPool   int // ready sandboxes kept per lab in demand (Want); 0: none
	// Starts wait in line rather than overcommit memory: one more starts
	// only while the engine's machine keeps MemReserve free after it, a
	// sandbox counted at what running ones use on average, at least
	// MemFloor (a new one grows as its student works). MemReserve 0: not
	// checked.
	MemReserve int64
	MemFloor   int64
}

// DefaultPolicy suits a class on one machine.
func DefaultPolicy() Policy {
	return Policy{
		IdleStop:   30 * time.Minute,
		MaxAge:     30 * 24 * time.Hour,
		MaxStarts:  4,
		DiskLimit:  5 << 30,
		Interval:   15 * time.Second,
		DiskEvery:  4,
		ProbeEvery: 4,

		MemReserve: 1 << 30,
		MemFloor:   256 << 20,
	}
}

// Event is news about a sandbox for its student's page.
type Event struct {
	Kind    string   `json:"kind"` // phase, queued, recovered, stopped, removed, disk, failed
	Phase   Phase    `json:"phase,omitempty"`
	Message string   `json:"message"` // in English; Code and Args let a page say it in the student's language
	Code    string   `json:"code,omitempty"`
	Args    []string `json:"args,omitempty"`
}

// Event kinds.
const (
	KindPhase     = "phase"
	KindRecovered = "recovered"
	KindStopped   = "stopped"
	KindRemoved   = "removed"
	KindDisk      = "disk"
	KindFailed    = "failed" // its Docker cannot start; it is not restarted
	KindQueued    = "queued" // waiting in line to start: Args are the place and the seconds left
)

// Manager applies a Policy to an Engine's sandboxes, remembers them in a
// Records, and tells students what happened to theirs. It speaks only the
// Engine interface.
type Manager struct {
	// Guard, when set, must pass before any sandbox starts: the host's
	// isolation (firewall rules) is in place, or no sandbox runs.
	Guard func(ctx context.Context) error
	// Broken, when set, hears of every sandbox found broken (a
	// *BrokenError), once per start: the host may be at fault.
	Broken func(key Key, cause string)
	// Prepare, when set, readies a new sandbox for its lab (files, setup)
	// once its init has prepared it, before it counts as ready. Warm sandboxes
	// are prepared when they are made (sb.Key has only the lab then).
	Prepare func(ctx context.Context, sb *Sandbox) error
	// Group, when set, names the line key's start waits in when many
	// start at once (the student's class): groups take turns.
	Group func(ctx context.Context, key Key) string

	engine Engine
	reg    Records
	policy Policy
	log    *slog.Logger
	now    func() time.Time
	starts *queue

	mu       sync.Mutex
	active   map[Key]time.Time // activity not yet written to the registry
	subs     map[Key]map[chan Event]struct{}
	last     map[Key]lastEvent
	failures map[Key]int     // probes failed in a row
	flights  map[Key]*flight // starts under way until ready: one per key, not probed
	broken   map[Key]string  // sandboxes whose Docker cannot start, and why
	ready    map[Key]bool    // running and found ready since they last started: opening them needs no probe
	lives    map[Key]int     // bumped when the manager stops, restarts or removes a sandbox: a probe's verdict on an earlier life is void
	warmSpec map[string]Spec
	warm     map[string][]string  // lab → warm sandboxes ready to hand out
	wanted   map[string]time.Time // lab → until when it is in demand
	claimed  time.Time            // when a student last took a warm sandbox

	sweeping sync.Mutex

	capMu sync.Mutex
	cap   Capacity // the engine's, as of capAt
	capOK bool     // cap is known
	capAt time.Time
}

type lastEvent struct {
	Event
	at time.Time
}

// NewManager returns a Manager; call Adopt once, then Run.
func NewManager(engine Engine, reg Records, policy Policy, log *slog.Logger) *Manager {
	if policy.MaxStarts <= 0 {
		policy.MaxStarts = 1
	}
	if policy.Interval <= 0 {
		policy.Interval = DefaultPolicy().Interval
	}
	if policy.ProbeEvery <= 0 {
		policy.ProbeEvery = 1
	}
	if policy.DiskEvery <= 0 {
		policy.DiskEvery = 1
	}
	m := &Manager{
		engine: engine, reg: reg, policy: policy, log: log, now: time.Now,
		starts:   newQueue(policy.MaxStarts),
		active:   map[Key]time.Time{},
		subs:     map[Key]map[chan Event]struct{}{},
		last:     map[Key]lastEvent{},
		failures: map[Key]int{},
		flights:  map[Key]*flight{},
		broken:   map[Key]string{},
		ready:    map[Key]bool{},
		lives:    map[Key]int{},
		warm:     map[string][]string{},
		wanted:   map[string]time.Time{},
	}
	if policy.MemReserve > 0 {
		m.starts.fits = func(starting int) bool { return m.room(starting) > 0 }
		m.starts.refresh = func() { m.capacity(false) }
	}
	return m
}

// capacity asks the engine's Capacity, at most every 2 s unless fresh
// (each start in a class's burst would ask). An engine that cannot say is
// taken at its word that nothing is short.
func (m *Manager) capacity(fresh bool) (Capacity, bool) {
	m.capMu.Lock()
	defer m.capMu.Unlock()
	if !fresh && time.Since(m.capAt) < 2*time.Second {
		return m.cap, m.capOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := m.engine.Capacity(ctx)
	if err != nil {
		m.log.Warn("sandbox capacity unknown; not holding starts back", "err", err)
	}
	m.cap, m.capOK, m.capAt = c, err == nil, time.Now()
	return c, m.capOK
}

// room is how many more sandboxes fit besides starting ones admitted but
// not yet grown, by the capacity last asked: the queue calls it under its
// lock, and asks for a fresh one (refresh) outside it.
func (m *Manager) room(starting int) int {
	m.capMu.Lock()
	c, ok := m.cap, m.capOK
	m.capMu.Unlock()
	return m.roomIn(c, ok, starting)
}

func (m *Manager) roomIn(c Capacity, ok bool, starting int) int {
	if !ok {
		return math.MaxInt32
	}
	per := max(c.PerSandbox, m.policy.MemFloor, 1)
	return int((c.Available-m.policy.MemReserve)/per) - starting
}

// Room is how many more sandboxes the machine takes now (memory), and
// what one is counted at; ok is false when not checked.
func (m *Manager) Room() (n int, per int64, ok bool) {
	if m.policy.MemReserve <= 0 {
		return 0, 0, false
	}
	running, _ := m.starts.load()
	c, ok := m.capacity(true)
	if !ok {
		return 0, 0, false
	}
	return max(0, m.roomIn(c, true, running)), max(c.PerSandbox, m.policy.MemFloor), true
}

// SetWarm says which labs may get warm sandboxes, and with what spec; a
// lab gets them while it is in demand (Want).
func (m *Manager) SetWarm(specs map[string]Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warmSpec = specs
}

// WarmFor is how long a lab stays in demand after a student opened it.
const WarmFor = 30 * time.Minute

// Want says lab is in demand until until: a class is in it (its page
// viewed, a sandbox started), or about to be. Only labs in demand keep
// warm sandboxes; those of a lab no longer in demand are removed.
func (m *Manager) Want(lab string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if until.After(m.wanted[lab]) {
		m.wanted[lab] = until
	}
}

// takeWarm pops a warm sandbox for lab, or returns "".
func (m *Manager) takeWarm(lab string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.warm[lab]
	if len(w) == 0 {
		return ""
	}
	m.warm[lab] = w[1:]
	return w[0]
}

// refillQuiet is how long after a student took a warm sandbox the pool
// waits to refill: a class takes its sandboxes within seconds, and a refill
// then (a start and a dockerd, 2.5 CPU-s each) would compete with the
// students' first commands.
const refillQuiet = 10 * time.Second

// fillWarm removes one warm sandbox of a lab no longer in demand, or makes
// one for the emptiest lab in demand below the pool size, unless students'
// sandboxes are starting (they come first), one was taken less than
// refillQuiet ago, or memory would not leave room for as many starts as run
// at once. It reports whether it did either.
func (m *Manager) fillWarm(ctx context.Context) bool {
	if m.policy.WarmPool <= 0 {
		return false
	}
	now := m.now()
	m.mu.Lock()
	for l, ws := range m.warm {
		if len(ws) > 0 && !m.wanted[l].After(now) {
			w := ws[0]
			m.warm[l] = ws[1:]
			m.mu.Unlock()
			if err := m.engine.Discard(ctx, w); err != nil && ctx.Err() == nil {
				m.log.Error("discard a warm sandbox", "lab", l, "err", err)
			}
			return true
		}
	}
	quiet := now.Sub(m.claimed) >= refillQuiet
	m.mu.Unlock()
	if running, waiting := m.starts.load(); running+waiting > 0 || !quiet {
		return false
	}
	if c, ok := m.capacity(false); m.policy.MemReserve > 0 && m.roomIn(c, ok, 0) <= m.policy.MaxStarts {
		return false
	}
	if m.guard(ctx) != nil { // no sandbox starts, warm ones neither
		return false
	}
	m.mu.Lock()
	lab, have := "", m.policy.WarmPool
	for l := range m.warmSpec {
		if !m.wanted[l].After(now) {
			continue
		}
		if n := len(m.warm[l]); n < have || (n == have && l < lab) {
			lab, have = l, n
		}
	}
	spec := m.warmSpec[lab]
	m.mu.Unlock()
	if lab == "" {
		return false
	}
	w, err := m.engine.Warm(ctx, lab, spec)
	if err == nil && m.Prepare != nil {
		if err = m.Prepare(ctx, &Sandbox{ID: w, Name: w, Key: Key{Lab: lab}}); err != nil {
			m.engine.Discard(context.WithoutCancel(ctx), w)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("warm sandbox", "lab", lab, "err", err)
		}
		return false
	}
	m.mu.Lock()
	m.warm[lab] = append(m.warm[lab], w)
	m.mu.Unlock()
	return true
}

// Exec runs a command in a sandbox: a check, a setup, a solve.
func (m *Manager) Exec(ctx context.Context, sb *Sandbox, cmd Command) (*Result, error) {
	return m.engine.Exec(ctx, sb, cmd)
}

// Status reports whether key's sandbox runs.
func (m *Manager) Status(ctx context.Context, key Key) (*Status, error) {
	return m.engine.Status(ctx, key, false)
}

// Addr is where the platform reaches what listens in key's running
// sandbox (the web preview), or ErrNotRunning.
func (m *Manager) Addr(ctx context.Context, key Key) (netip.Addr, error) {
	return m.engine.Addr(ctx, key)
}

// Shell starts key's sandbox as Start does and opens a login shell for
// the student in it, of cols×rows with env added; ready yields once the
// sandbox is ready (nil) or will not be.
func (m *Manager) Shell(ctx context.Context, key Key, spec Spec, cols, rows uint, progress func(Event), env ...string) (_ TTY, ready <-chan error, _ error) {
	sb, ready, err := m.Start(ctx, key, spec, progress)
	if err != nil {
		return nil, nil, err
	}
	tty, err := m.engine.Shell(ctx, sb, cols, rows, env...)
	if err != nil {
		return nil, nil, err
	}
	return tty, ready, nil
}

// Open returns key's sandbox once it is ready, starting or creating it
// as needed. Progress goes to progress and to subscribers.
func (m *Manager) Open(ctx context.Context, key Key, spec Spec, progress func(Event)) (*Sandbox, error) {
	sb, ready, err := m.Start(ctx, key, spec, progress)
	if err != nil {
		return nil, err
	}
	if err := <-ready; err != nil {
		return nil, err
	}
	return sb, nil
}

// Start returns key's sandbox as soon as it runs (a shell can open), and a
// channel that yields once it is ready (nil) or will not be. Its
// news (phases; its place in line when many start at once, KindQueued)
// goes to progress and to key's subscribers. ctx ending leaves the line.
// One start per key runs at a time: a second waits for the first and finds
// the sandbox up.
func (m *Manager) Start(ctx context.Context, key Key, spec Spec, progress func(Event)) (*Sandbox, <-chan error, error) {
	tell := func(ev Event) {
		if progress != nil {
			progress(ev)
		}
		m.publish(key, ev)
	}
	emit := func(p Phase) { tell(Event{Kind: KindPhase, Phase: p}) }
	m.Want(key.Lab, m.now().Add(WarmFor))
	f, done, err := m.fly(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*Sandbox, <-chan error, error) {
		done()
		return nil, nil, err
	}
	st, err := m.engine.Status(ctx, key, false)
	if err != nil {
		return fail(err)
	}
	if st.State == Missing {
		if sb, ready, ok := m.claimWarm(ctx, key, emit); ok {
			done()
			return sb, ready, nil
		}
	}
	// The place in line is held until the sandbox is ready (and, for one
	// made ahead, its Docker answers).
	release := func() {}
	known := st.State == Running && m.isReady(key)
	if st.State != Running {
		m.unready(key)
		if err := m.guard(ctx); err != nil {
			return fail(err)
		}
		group := ""
		if m.Group != nil {
			group = m.Group(ctx, key)
		}
		release, err = m.starts.acquire(ctx, group, m.now, func(p Place) {
			if p.Memory {
				tell(news(KindQueued, "queued.memory", p.Position))
				return
			}
			tell(news(KindQueued, "queued", p.Position, int(math.Ceil(p.Wait.Seconds()))))
		}, func(promote func()) { m.queued(f, promote) })
		if err != nil {
			return fail(err)
		}
	}
	now := m.now()
	// Recorded before the engine acts, so a server killed mid-start finds
	// the sandbox on its next start and adopts it instead of leaking it.
	if err := m.reg.SaveSandbox(ctx, Record{Key: key, State: Running, Created: now, LastActive: now}); err != nil {
		release()
		return fail(err)
	}
	sb, err := m.engine.Ensure(ctx, key, spec, emit)
	if err != nil {
		release()
		return fail(err)
	}
	m.Touch(key)
	ready := make(chan error, 1)
	go func() {
		var err error
		if !known { // an inspect and a log stream, which forty students opening their prepared sandboxes at once pay forty times
			emit(Waiting)
			if err = m.engine.WaitReady(ctx, sb); err != nil {
				err = m.checkBroken(key, err)
			}
		}
		if err == nil && st.State == Missing && m.Prepare != nil {
			if err = m.Prepare(ctx, sb); err != nil {
				m.log.Error("prepare sandbox", "user", key.UserID, "lab", key.Lab, "err", err)
				// Half-prepared is worse than none: the next open starts over.
				bg := context.WithoutCancel(ctx)
				if rerr := m.engine.Remove(bg, key); rerr == nil {
					m.reg.DeleteSandbox(bg, key)
				}
				err = apperr.New(apperr.Unavailable, "sandbox.unprepared")
			}
		}
		// A sandbox made ahead of its student (a class prepared) has the
		// time to start its Docker too, so the first docker command
		// answers at once; its place in line is held meanwhile.
		if err == nil && f.ahead && !m.isUrgent(f) {
			if err = m.engine.StartDocker(ctx, sb); err != nil {
				err = m.checkBroken(key, err)
			}
		}
		if err == nil {
			m.mu.Lock()
			delete(m.broken, key)
			m.ready[key] = true
			m.mu.Unlock()
			emit(Ready)
		}
		// Before ready: whoever waited for it may start the next one.
		release()
		done()
		ready <- err
	}()
	return sb, ready, nil
}

// flight is a start under way.
type flight struct {
	done    chan struct{} // closed once it ended
	ahead   bool          // made for the student, not by them (a class prepared)
	urgent  bool          // the student came for it meanwhile
	promote func()        // moves its place in line to the front, while it waits
}

type aheadKey struct{}

// Ahead marks ctx's starts as made ahead for the student (a class prepared
// before the lesson): when the student comes while such a start still
// waits in line, it moves to the front.
func Ahead(ctx context.Context) context.Context { return context.WithValue(ctx, aheadKey{}, true) }

// fly makes the caller key's only start under way, after waiting for one
// that runs; done ends it.
func (m *Manager) fly(ctx context.Context, key Key) (f *flight, done func(), err error) {
	ahead := ctx.Value(aheadKey{}) != nil
	for {
		m.mu.Lock()
		f, busy := m.flights[key]
		if !busy {
			f = &flight{done: make(chan struct{}), ahead: ahead}
			m.flights[key] = f
			m.mu.Unlock()
			var once sync.Once
			return f, func() {
				once.Do(func() {
					m.mu.Lock()
					delete(m.flights, key)
					m.mu.Unlock()
					close(f.done)
				})
			}, nil
		}
		var promote func()
		if f.ahead && !ahead && !f.urgent { // the student is here: their start goes first
			f.urgent, promote = true, f.promote
		}
		m.mu.Unlock()
		if promote != nil {
			promote()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// isReady says whether key's sandbox was found ready since it last started.
func (m *Manager) isReady(key Key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready[key]
}

// unready forgets that key's sandbox was ready, and starts its next life:
// a probe's verdict on an earlier one is void.
func (m *Manager) unready(key Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ready, key)
	m.lives[key]++
}

// changing starts key's next life while the manager stops, restarts or
// removes it, and again when that is done (call the func it returns):
// probes begun meanwhile judge neither life.
func (m *Manager) changing(key Key) (done func()) {
	m.unready(key)
	return func() { m.unready(key) }
}

// isUrgent says whether the student came for f's sandbox while it started.
func (m *Manager) isUrgent(f *flight) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f.urgent
}

// queued keeps how to move f's place in line to the front, or does it at
// once if the student already came.
func (m *Manager) queued(f *flight, promote func()) {
	m.mu.Lock()
	urgent := f.urgent
	f.promote = promote
	m.mu.Unlock()
	if urgent {
		promote()
	}
}

// StartLoad is how many sandboxes start now, how many wait in line, and
// how long a start lately held its place.
func (m *Manager) StartLoad() (running, waiting int, avg time.Duration) {
	running, waiting = m.starts.load()
	return running, waiting, m.starts.average()
}

// claimWarm hands key a warm sandbox of its lab, if there is one: it is
// ready already.
func (m *Manager) claimWarm(ctx context.Context, key Key, emit func(Phase)) (*Sandbox, <-chan error, bool) {
	w := m.takeWarm(key.Lab)
	if w == "" {
		return nil, nil, false
	}
	now := m.now()
	if err := m.reg.SaveSandbox(ctx, Record{Key: key, State: Running, Created: now, LastActive: now}); err != nil {
		m.log.Error("claim warm sandbox", "err", err)
		m.engine.Discard(context.WithoutCancel(ctx), w)
		return nil, nil, false
	}
	sb, err := m.engine.Claim(ctx, w, key)
	if err != nil {
		m.log.Error("claim warm sandbox", "err", err)
		m.engine.Discard(context.WithoutCancel(ctx), w)
		return nil, nil, false
	}
	m.Touch(key)
	m.mu.Lock()
	m.ready[key] = true
	m.claimed = now
	m.mu.Unlock()
	emit(Ready)
	ready := make(chan error, 1)
	ready <- nil
	return sb, ready, true
}

// guard runs Guard: sandboxes start only when it passes. Its user-safe
// answer (an *apperr.Error, such as "the lab machines are not ready") goes
// to the student as it is.
func (m *Manager) guard(ctx context.Context) error {
	if m.Guard == nil {
		return nil
	}
	err := m.Guard(ctx)
	if err == nil {
		return nil
	}
	var safe *apperr.Error
	if errors.As(err, &safe) {
		return err
	}
	m.log.Error("sandbox isolation is not in place; not starting sandboxes", "err", err)
	return apperr.New(apperr.Unavailable, "sandbox.isolation")
}

// checkBroken turns a *BrokenError of key into what the student reads,
// and marks key broken, telling Broken the first time; other errors pass.
func (m *Manager) checkBroken(key Key, err error) error {
	var b *BrokenError
	if !errors.As(err, &b) {
		return err
	}
	m.mu.Lock()
	_, known := m.broken[key]
	m.broken[key] = b.Cause
	delete(m.ready, key)
	delete(m.failures, key)
	m.mu.Unlock()
	if !known {
		m.log.Error("sandbox's Docker cannot start; not restarting it", "user", key.UserID, "lab", key.Lab, "cause", b.Cause)
		m.publish(key, news(KindFailed, "broken"))
		if m.Broken != nil {
			m.Broken(key, b.Cause)
		}
	}
	return apperr.New(apperr.Unavailable, "sandbox.broken")
}

// BrokenSandboxes lists the sandboxes whose Docker cannot start, with the
// cause each found.
func (m *Manager) BrokenSandboxes() map[Key]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.broken)
}

// Touch records activity: a keystroke or a check.
func (m *Manager) Touch(key Key) {
	m.mu.Lock()
	m.active[key] = m.now()
	m.mu.Unlock()
}

// Reset removes key's sandbox; the next Open makes a fresh one.
func (m *Manager) Reset(ctx context.Context, key Key) error {
	defer m.changing(key)()
	if err := m.engine.Remove(ctx, key); err != nil {
		return err
	}
	if err := m.reg.DeleteSandbox(ctx, key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.broken, key)
	m.mu.Unlock()
	m.publish(key, news(KindRemoved, "reset"))
	return nil
}

// Subscribe returns key's events until cancel is called.
func (m *Manager) Subscribe(key Key) (<-chan Event, func()) {
	ch := make(chan Event, 16)
	m.mu.Lock()
	if m.subs[key] == nil {
		m.subs[key] = map[chan Event]struct{}{}
	}
	m.subs[key][ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs[key], ch)
		if len(m.subs[key]) == 0 {
			delete(m.subs, key)
		}
		m.mu.Unlock()
	}
}

// Recent returns the last non-progress event of key if it happened within d:
// why a terminal just lost its shell.
func (m *Manager) Recent(key Key, d time.Duration) (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev, ok := m.last[key]
	return ev.Event, ok && m.now().Sub(ev.at) <= d
}

func (m *Manager) publish(key Key, ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Kind != KindPhase && ev.Kind != KindQueued { // news of what happened to it
		m.last[key] = lastEvent{ev, m.now()}
	}
	for ch := range m.subs[key] {
		select {
		case ch <- ev:
		default: // a stuck page misses news rather than stalling the manager
		}
	}
}

// Adopt reconciles the registry with what the engine runs, after a start or
// a crash: known sandboxes are kept, sandboxes nobody knows are removed,
// records of vanished sandboxes are dropped.
func (m *Manager) Adopt(ctx context.Context) (adopted, reaped int, err error) {
	running, err := m.engine.List(ctx)
	if err != nil {
		return 0, 0, err
	}
	recs, err := m.reg.Sandboxes(ctx)
	if err != nil {
		return 0, 0, err
	}
	known := map[Key]Record{}
	for _, r := range recs {
		known[r.Key] = r
	}
	seen := map[Key]bool{}
	for _, st := range running {
		if st.Warm { // made by an earlier run; fresh ones follow
			if err := m.engine.Discard(ctx, st.Name); err != nil {
				return adopted, reaped, err
			}
			reaped++
			continue
		}
		seen[st.Key] = true
		rec, ok := known[st.Key]
		if !ok {
			m.log.Info("removing orphan sandbox", "sandbox", st.Name)
			if err := m.engine.Remove(ctx, st.Key); err != nil {
				return adopted, reaped, err
			}
			reaped++
			continue
		}
		adopted++
		if rec.State != st.State { // e.g. the host rebooted: all are stopped
			rec.State = st.State
			if err := m.reg.SaveSandbox(ctx, rec); err != nil {
				return adopted, reaped, err
			}
		}
	}
	for _, r := range recs {
		if !seen[r.Key] {
			if err := m.reg.DeleteSandbox(ctx, r.Key); err != nil {
				return adopted, reaped, err
			}
		}
	}
	return adopted, reaped, m.engine.Prune(ctx)
}

// Run applies the policy every interval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	var warming sync.WaitGroup
	defer warming.Wait() // no warm sandbox is made after Run returns
	if m.policy.WarmPool > 0 {
		warming.Go(func() {
			for ctx.Err() == nil {
				if !m.fillWarm(ctx) {
					select {
					case <-ctx.Done():
					case <-time.After(2 * time.Second):
					}
				}
			}
		})
	}
	t := time.NewTicker(m.policy.Interval)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			m.flush(context.Background())
			return
		case <-t.C:
			if err := m.sweepTurn(ctx, tick%m.policy.DiskEvery == 0, tick%m.policy.ProbeEvery); err != nil && ctx.Err() == nil {
				m.log.Error("sandbox sweep", "err", err)
			}
		}
	}
}

func (m *Manager) flush(ctx context.Context) error {
	m.mu.Lock()
	active := m.active
	m.active = map[Key]time.Time{}
	m.mu.Unlock()
	if len(active) == 0 {
		return nil
	}
	if err := m.reg.TouchSandboxes(ctx, active); err != nil {
		m.mu.Lock()
		for k, t := range active { // keep them for the next try
			if t.After(m.active[k]) {
				m.active[k] = t
			}
		}
		m.mu.Unlock()
		return err
	}
	return nil
}

// Sweep looks at every sandbox once: age, idleness, health, disk.
func (m *Manager) Sweep(ctx context.Context, disk bool) error {
	return m.sweep(ctx, disk, func(Key) bool { return true })
}

// sweepTurn sweeps, probing the sandboxes whose turn it is.
func (m *Manager) sweepTurn(ctx context.Context, disk bool, turn int) error {
	return m.sweep(ctx, disk, func(k Key) bool { return probeTurn(k, m.policy.ProbeEvery) == turn })
}

// probeTurn is the interval, of every n, at which key's health is probed.
func probeTurn(key Key, n int) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", key.UserID, key.Lab)
	return int(h.Sum32() % uint32(n))
}

// sweep looks at every sandbox: age, idleness, disk, and the health of
// those probe picks and of those whose last probe failed.
func (m *Manager) sweep(ctx context.Context, disk bool, probe func(Key) bool) error {
	m.sweeping.Lock() // one at a time: two would judge and restart one sandbox twice
	defer m.sweeping.Unlock()
	if err := m.flush(ctx); err != nil {
		return err
	}
	recs, err := m.reg.Sandboxes(ctx)
	if err != nil {
		return err
	}
	// A few at a time: one by one, a class's worth of probes would not fit
	// in one interval (measured: 25 s for 25 sandboxes with a slower probe).
	var mu sync.Mutex
	var errs []error
	work := make(chan Record)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for r := range work {
				if err := m.sweepOne(ctx, r, disk, probe(r.Key)); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%d/%s: %w", r.Key.UserID, r.Key.Lab, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range recs {
		work <- r
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Manager) sweepOne(ctx context.Context, r Record, disk, probe bool) error {
	now := m.now()
	if m.policy.MaxAge > 0 && now.Sub(r.Created) > m.policy.MaxAge {
		if err := m.engine.Remove(ctx, r.Key); err != nil {
			return err
		}
		m.publish(r.Key, news(KindRemoved, "maxage", m.policy.MaxAge))
		return m.reg.DeleteSandbox(ctx, r.Key)
	}
	if r.State != Running {
		return nil
	}
	m.mu.Lock()
	life := m.lives[r.Key]
	m.mu.Unlock()
	st, err := m.engine.Status(ctx, r.Key, disk && m.policy.DiskLimit > 0)
	if err != nil {
		return err
	}
	switch {
	case st.State == Missing: // removed behind the platform's back
		return m.reg.DeleteSandbox(ctx, r.Key)

	case m.policy.IdleStop > 0 && now.Sub(r.LastActive) > m.policy.IdleStop:
		return m.stop(ctx, r, news(KindStopped, "idle", m.policy.IdleStop))

	case st.State == Stopped: // it died while in use: out of memory, or stopped from outside
		why, code := "stopped unexpectedly", "stopped"
		if st.OOMKilled {
			why, code = "ran out of memory", "oom"
		}
		return m.recover(ctx, r.Key, life, why, code)

	case st.DiskBytes > m.policy.DiskLimit && m.policy.DiskLimit > 0:
		return m.stop(ctx, r, news(KindDisk, "disk", bytesText(st.DiskBytes), bytesText(m.policy.DiskLimit)))
	}

	// A sandbox still starting is not judged: on a busy host its Docker
	// takes long to answer, and WaitReady reports one that never will.
	m.mu.Lock()
	_, starting := m.flights[r.Key]
	failed := m.failures[r.Key] > 0
	m.mu.Unlock()
	if starting || !probe && !failed {
		return nil
	}
	// Restart only on evidence that a restart fixes: a full process table
	// (a fork bomb), or nothing running in it any more. A slow Docker is
	// not that evidence: its init restarts a dockerd that dies.
	if err := m.engine.Probe(ctx, r.Key); err != nil {
		var b *BrokenError
		switch {
		case errors.As(err, &b): // restarting would not help
			m.checkBroken(r.Key, err)
			return nil
		case errors.Is(err, ErrSlow):
			m.log.Info("sandbox slow", "user", r.Key.UserID, "lab", r.Key.Lab, "err", err)
			return nil
		}
		m.mu.Lock()
		if m.lives[r.Key] != life { // see recover
			m.mu.Unlock()
			return nil
		}
		delete(m.ready, r.Key)
		m.failures[r.Key]++
		n := m.failures[r.Key]
		m.mu.Unlock()
		m.log.Info("sandbox unhealthy", "user", r.Key.UserID, "lab", r.Key.Lab, "failures", n, "err", err)
		if n >= 2 { // one failed exec is not a hang
			why, code := "cannot start programs any more", "hung"
			if errors.Is(err, ErrProcessesFull) {
				why, code = "ran out of processes (a fork bomb?)", "pids"
			}
			return m.recover(ctx, r.Key, life, why, code)
		}
		return nil
	}
	m.mu.Lock()
	delete(m.failures, r.Key)
	m.mu.Unlock()
	return nil
}

func (m *Manager) stop(ctx context.Context, r Record, ev Event) error {
	defer m.changing(r.Key)()
	if err := m.engine.Stop(ctx, r.Key); err != nil {
		return err
	}
	r.State = Stopped
	if err := m.reg.SaveSandbox(ctx, r); err != nil {
		return err
	}
	m.publish(r.Key, ev)
	return nil
}

// recover restarts a sandbox that died or hangs, as seen in its life; why
// says what happened, in English for the log and the event, and code names
// it for translations. A verdict on an earlier life is void: the sandbox
// was stopped, restarted or removed since, and restarting the new one
// would close its student's shell for nothing.
func (m *Manager) recover(ctx context.Context, key Key, life int, why, code string) error {
	m.mu.Lock()
	if m.lives[key] != life {
		m.mu.Unlock()
		return nil
	}
	delete(m.failures, key)
	m.mu.Unlock()
	m.log.Warn("recovering sandbox", "user", key.UserID, "lab", key.Lab, "why", why)
	defer m.changing(key)()
	if err := m.engine.Restart(ctx, key); err != nil {
		var b *BrokenError
		if errors.As(err, &b) {
			m.checkBroken(key, err)
			return nil
		}
		return err
	}
	m.publish(key, news(KindRecovered, "recovered."+code))
	return nil
}

// news is an event whose text is the catalog's "sandbox."+code: Code and
// Args for the student's language (a duration travels as "30m0s"), the
// English Message for logs and pages without the catalog.
func news(kind, code string, args ...any) Event {
	ev := Event{Kind: kind, Code: code, Message: i18n.T("en", "sandbox."+code, args...)}
	for _, a := range args {
		ev.Args = append(ev.Args, fmt.Sprint(a))
	}
	return ev
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
