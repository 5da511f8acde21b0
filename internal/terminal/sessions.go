package terminal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config tunes the sessions of a Registry; zero values take the defaults.
type Config struct {
	// RingSize is how much recent output a session keeps for reconnects
	// and replays (default 1 MiB).
	RingSize int
	// High and Low are the flow-control watermarks, in output bytes a
	// student's browser has not acknowledged yet: the TTY is not read above
	// High until the lag is back to Low (defaults 256 KiB and 64 KiB).
	// High is also the most a client gets ahead of its acknowledgements.
	High, Low int
	// Grace is how long a session outlives its last client before its
	// shell is closed (default 5 minutes: a classroom's Wi-Fi drops).
	Grace time.Duration
	// OpeningGrace is the same for a session whose shell is still opening
	// (its sandbox waits in line to start): a student who closed the tab
	// leaves the line; a reload comes back within it (default 10 s).
	OpeningGrace time.Duration
	// Hold is how long, after the last student client left, the TTY stays
	// paused at that client's position so that a quick reconnect misses
	// nothing; after it the shell runs on and the ring keeps the newest
	// output (default 30 s).
	Hold time.Duration
	// MaxTabs limits the resumable sessions (tabs) of one owner (default 8).
	MaxTabs int
	// RecordDir, when set, is where sessions opened with Options.Record
	// write asciicast v2 recordings (<dir>/<owner>/<time>-tab<tab>-<id>.cast).
	RecordDir string
	Log       *slog.Logger
}

func (c *Config) defaults() {
	if c.RingSize <= 0 {
		c.RingSize = 1 << 20
	}
	if c.High <= 0 {
		c.High = 256 << 10
	}
	if c.Low <= 0 || c.Low >= c.High {
		c.Low = c.High / 4
	}
	if c.RingSize < c.High+2*readChunk {
		c.RingSize = c.High + 2*readChunk
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Minute
	}
	if c.OpeningGrace <= 0 {
		c.OpeningGrace = 10 * time.Second
	}
	if c.Hold <= 0 {
		c.Hold = 30 * time.Second
	}
	if c.MaxTabs <= 0 {
		c.MaxTabs = 8
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Sessions holds the server's terminal sessions.
type Sessions struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	byID   map[string]*Session
	byTab  map[tabKey]*Session // the resumable session of each owner's tab
	closed bool
}

type tabKey struct{ owner, tab string }

// NewSessions makes an empty set of sessions.
func NewSessions(cfg Config) *Sessions {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Sessions{cfg: cfg, ctx: ctx, cancel: cancel, byID: map[string]*Session{}, byTab: map[tabKey]*Session{}}
}

// Config returns the registry's settings, defaults filled in.
func (r *Sessions) Config() Config { return r.cfg }

// Close ends every session (their clients are told the server is going
// away) and waits for their goroutines.
func (r *Sessions) Close() {
	r.mu.Lock()
	r.closed = true
	all := make([]*Session, 0, len(r.byID))
	for _, s := range r.byID {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.end("closed", newsPrefix+"restarting", websocket.CloseGoingAway)
	}
	r.cancel()
	r.wg.Wait()
}

// Info describes a session, for listings.
type Info struct {
	ID, Owner, Tab   string
	Recording        string // the recording's file, relative to Config.RecordDir; empty if none
	Students, Viewer int    // attached clients
	Offset           uint64
	Ephemeral        bool
}

// Sessions lists the live sessions of owner (all owners when empty).
func (r *Sessions) Sessions(owner string) []Info {
	r.mu.Lock()
	var ss []*Session
	for _, s := range r.byID {
		if owner == "" || s.owner == owner {
			ss = append(ss, s)
		}
	}
	r.mu.Unlock()
	var out []Info
	for _, s := range ss {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Owner != out[j].Owner {
			return out[i].Owner < out[j].Owner
		}
		return out[i].Tab < out[j].Tab
	})
	return out
}

// Session returns the live resumable session of owner's tab, if any.
func (r *Sessions) Session(owner, tab string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byTab[tabKey{owner, tab}]
}

// find returns the live session a client asks for: the one with its id if
// that is owner's tab, else the tab's current one.
func (r *Sessions) find(owner, tab, id string) (s *Session, same bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byID[id]; s != nil && id != "" && s.owner == owner && s.tab == tab && !s.ephemeral {
		return s, true
	}
	return r.byTab[tabKey{owner, tab}], false
}

var errTooMany = errors.New("too many terminals")

// create registers a new session; a resumable one becomes its tab's
// session, replacing the previous one. The caller must run s.open. A
// session opened ahead (unclaimed > 0: how long it waits for its student)
// is not made when the tab has one: create returns no session then.
func (r *Sessions) create(owner, tab string, ephemeral bool, cols, rows uint, opts *Options, unclaimed time.Duration) (*Session, *Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, errors.New("server closing")
	}
	if _, taken := r.byTab[tabKey{owner, tab}]; taken && unclaimed > 0 {
		return nil, nil, nil
	}
	if !ephemeral {
		n := 0
		for k := range r.byTab {
			if k.owner == owner && k.tab != tab {
				n++
			}
		}
		if n >= r.cfg.MaxTabs {
			return nil, nil, errTooMany
		}
	}
	s := newSession(r, newID(), owner, tab, ephemeral, opts)
	s.cols, s.rows, s.unclaimed = cols, rows, unclaimed
	r.wg.Add(1) // for s.open, which the caller starts; Close waits for it
	r.byID[s.id] = s
	var old *Session
	if !ephemeral {
		k := tabKey{owner, tab}
		old = r.byTab[k]
		r.byTab[k] = s
	}
	return s, old, nil
}

// Preopen opens a resumable shell for owner's tab before anyone asks (a
// class prepared before the lesson): the tab's first client that does not
// ask for a fresh shell attaches to it and finds the prompt there, where a
// new shell costs an exec and a login shell's start, which a class opening
// at once pays forty times over. The session waits up to wait for that
// client; a tab that has a session keeps it.
func (r *Sessions) Preopen(owner, tab string, cols, rows uint, opts Options, wait time.Duration) error {
	if tab == "" {
		tab = "1"
	}
	if wait <= 0 {
		wait = r.cfg.Grace
	}
	opts.Owner, opts.Tab = owner, tab
	s, _, err := r.create(owner, tab, false, cols, rows, &opts, wait)
	if err != nil || s == nil { // a tab that has a session keeps it
		return err
	}
	s.mu.Lock()
	if len(s.clients) == 0 { // its student may have come already
		s.idle()
	}
	s.mu.Unlock()
	go s.open(&opts)
	return nil
}

func (r *Sessions) remove(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[s.id] == s {
		delete(r.byID, s.id)
	}
	k := tabKey{s.owner, s.tab}
	if r.byTab[k] == s {
		delete(r.byTab, k)
	}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var unsafePath = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// recordPath is where a session's recording goes.
func (r *Sessions) recordPath(s *Session) string {
	owner := unsafePath.ReplaceAllString(s.owner, "_")
	if owner == "" || owner == "." || owner == ".." {
		owner = "_"
	}
	name := time.Now().UTC().Format("20060102-150405") + "-tab" + unsafePath.ReplaceAllString(s.tab, "_") + "-" + s.id + ".cast"
	return filepath.Join(r.cfg.RecordDir, owner, name)
}

func (r *Sessions) openRecorder(s *Session, cols, rows uint) *recorder {
	path := r.recordPath(s)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		r.cfg.Log.Error("terminal recording", "err", err)
		return nil
	}
	rec, err := newRecorder(path, cols, rows, s.owner+" tab "+s.tab)
	if err != nil {
		r.cfg.Log.Error("terminal recording", "err", err)
		return nil
	}
	return rec
}
