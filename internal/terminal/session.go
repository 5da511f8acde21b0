package terminal

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// TTY is an interactive stream with a size: a Docker exec stream in
// production, a local pty in tests and benchmarks.
type TTY interface {
	io.ReadWriteCloser
	Resize(cols, rows uint) error
}

// Shell is what a new session runs: it opens the TTY, and it speaks for
// the machine the TTY runs on (a student's sandbox): its news, and why the
// TTY ended.
type Shell interface {
	// Open starts the TTY; status reports progress while it comes up.
	Open(ctx context.Context, cols, rows uint, status func(state, msg string)) (TTY, error)
	// Opened runs once the TTY is attached, in a goroutine of its own,
	// with the session's context: it may send more news (Status) and end
	// the session (End) when the machine goes away.
	Opened(ctx context.Context, s *Session)
	// Input is called for each input frame: keystrokes are activity.
	Input()
	// Closed explains why the TTY ended, when the shell knows better than
	// "the shell exited" (the sandbox was stopped or restarted); or "".
	Closed() string
}

const (
	readChunk  = 64 << 10 // TTY reads and Output frames
	maxPending = 64 << 10 // input typed before the shell is up
)

// Session is one shell, owned by the server: clients (websockets) attach
// and detach; it ends when its TTY does, when it has had no client for the
// registry's grace period, or when End is called.
type Session struct {
	reg       *Sessions
	id        string
	owner     string
	tab       string
	ephemeral bool // ends with its last client; not resumable
	ctx       context.Context
	cancel    context.CancelFunc
	shell     Shell
	done      chan struct{}
	wake      chan struct{} // the paused reader may go on
	record    bool

	inMu sync.Mutex // one input write at a time, in arrival order
	// sizeMu orders resizes before the TTY's close (a pty's Fd must not
	// be used once it is closed).
	sizeMu    sync.Mutex
	ttyClosed bool

	mu         sync.Mutex
	tty        TTY // nil while opening
	rec        *recorder
	ring       *ring
	clients    map[*conn]struct{}
	students   int
	paused     bool
	holding    bool // the last student left: pause at holdPos for a while
	holdPos    uint64
	holdTimer  *time.Timer
	graceTimer *time.Timer
	pending    []byte        // input before the TTY is open
	unclaimed  time.Duration // preopened, no student yet: how long to wait for one (Preopen)
	cols, rows uint
	status     []byte // the last Status frame, for clients that attach later
	ended      bool
	endState   string
	endMsg     string
	endCode    int
}

func newSession(r *Sessions, id, owner, tab string, ephemeral bool, opts *Options) *Session {
	ctx, cancel := context.WithCancel(r.ctx)
	return &Session{
		reg: r, id: id, owner: owner, tab: tab, ephemeral: ephemeral,
		ctx: ctx, cancel: cancel, shell: opts.Shell, record: opts.Record && r.cfg.RecordDir != "",
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		ring: newRing(r.cfg.RingSize), clients: map[*conn]struct{}{}, cols: 80, rows: 24,
	}
}

// ID is the session's id, which a client sends back to resume it.
func (s *Session) ID() string { return s.id }

// Owner and Tab name the session.
func (s *Session) Owner() string { return s.owner }
func (s *Session) Tab() string   { return s.tab }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// End ends the session: its clients get the rest of its output, then a
// Status "closed" with msg and a normal close. Safe to call more than once.
func (s *Session) End(msg string) { s.end("closed", msg, websocket.CloseNormalClosure) }

func (s *Session) info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := Info{ID: s.id, Owner: s.owner, Tab: s.tab, Students: s.students, Viewer: len(s.clients) - s.students, Offset: s.ring.end, Ephemeral: s.ephemeral}
	if s.rec != nil {
		info.Recording, _ = filepath.Rel(s.reg.cfg.RecordDir, s.rec.path)
	}
	return info
}

// open runs the Shell, then reads the TTY until it ends.
func (s *Session) open(opts *Options) {
	defer s.reg.wg.Done()
	s.mu.Lock()
	cols, rows := s.cols, s.rows
	s.mu.Unlock()
	tty, err := opts.Shell.Open(s.ctx, cols, rows, s.Status)
	if err != nil {
		s.end("error", err.Error(), websocket.CloseInternalServerErr)
		return
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		tty.Close()
		return
	}
	s.tty = tty
	if s.record {
		s.rec = s.reg.openRecorder(s, cols, rows)
	}
	if s.cols != cols || s.rows != rows { // a resize arrived while opening
		tty.Resize(s.cols, s.rows) // s.ctx's AfterFunc, which closes, is not set yet
		s.rec.resize(s.cols, s.rows)
	}
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	// A session that ends closes its TTY, which ends the read below.
	stop := context.AfterFunc(s.ctx, func() {
		s.sizeMu.Lock()
		s.ttyClosed = true
		s.sizeMu.Unlock()
		tty.Close()
	})
	defer stop()
	if len(pending) > 0 {
		s.inMu.Lock()
		tty.Write(pending)
		s.inMu.Unlock()
	}
	s.Status("ready", "")
	s.reg.wg.Add(1)
	go func() { defer s.reg.wg.Done(); opts.Shell.Opened(s.ctx, s) }()
	s.readLoop(tty)
}

func (s *Session) readLoop(tty TTY) {
	buf := make([]byte, readChunk)
	for {
		s.mu.Lock()
		for s.paused && !s.ended {
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.ctx.Done():
			}
			s.mu.Lock()
		}
		ended := s.ended
		s.mu.Unlock()
		if ended {
			return
		}
		n, err := tty.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.ring.write(buf[:n])
			s.rec.output(buf[:n])
			s.updatePause()
			for c := range s.clients {
				c.poke()
			}
			s.mu.Unlock()
		}
		if err != nil {
			msg := newsPrefix + "exited"
			if s.ctx.Err() == nil {
				if why := s.shell.Closed(); why != "" {
					msg = why
				}
			}
			s.end("closed", msg, websocket.CloseNormalClosure)
			return
		}
	}
}

// end ends the session once; clients drain the output, then get state/msg
// and a close frame with code.
func (s *Session) end(state, msg string, code int) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.endState, s.endMsg, s.endCode = true, state, msg, code
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	if s.holdTimer != nil {
		s.holdTimer.Stop()
	}
	for c := range s.clients {
		c.poke()
	}
	rec := s.rec
	s.rec = nil
	s.mu.Unlock()
	s.cancel() // closes the TTY
	s.reg.remove(s)
	rec.close()
	close(s.done)
}

// Status tells every client, now and later, how the session is.
func (s *Session) Status(state, msg string) {
	f := EncodeStatus(state, msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.status = f
	for c := range s.clients {
		c.control(f)
	}
}

// attach adds c, whose client has output up to offset (resume: the offset
// is of this session), and returns the Hello to answer. It fails once the
// session has ended.
func (s *Session) attach(c *conn, offset uint64, resume, isNew bool) (HelloReply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return HelloReply{}, false
	}
	reply := HelloReply{Session: s.id, New: isNew, ReadOnly: c.viewer, Recording: s.record}
	if resume && offset >= s.ring.start() && offset <= s.ring.end {
		reply.Offset = offset
	} else {
		reply.Offset = s.ring.replayStart()
		reply.Replay = !isNew
	}
	if !c.legacy {
		c.control(EncodeHello(reply))
	}
	if s.status != nil {
		c.control(s.status)
	}
	c.sent, c.acked = reply.Offset, reply.Offset
	s.clients[c] = struct{}{}
	if !c.viewer {
		s.students++
		s.unclaimed = 0
		s.holding = false
		if s.holdTimer != nil {
			s.holdTimer.Stop()
		}
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	s.updatePause()
	c.poke()
	return reply, true
}

// detach removes c; the last client leaving starts the grace period.
func (s *Session) detach(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c]; !ok {
		return
	}
	delete(s.clients, c)
	if !c.viewer {
		s.students--
		if s.students == 0 && !s.ephemeral && !s.ended {
			// Keep the TTY where this client was, so that its reconnect
			// continues without a gap — but not for long.
			s.holding, s.holdPos = true, c.position()
			if s.holdTimer != nil {
				s.holdTimer.Stop()
			}
			s.holdTimer = time.AfterFunc(s.reg.cfg.Hold, func() {
				s.mu.Lock()
				s.holding = false
				s.updatePause()
				s.mu.Unlock()
			})
		}
	}
	s.updatePause()
	if len(s.clients) == 0 && !s.ended {
		s.idle()
	}
}

// idle ends an ephemeral session now and a resumable one after the grace
// period; s.mu is held.
func (s *Session) idle() {
	if s.ephemeral {
		go s.end("closed", "", websocket.CloseNormalClosure)
		return
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	grace := s.reg.cfg.Grace
	switch {
	case s.unclaimed > 0: // opened ahead for its student
		grace = s.unclaimed
	case s.tty == nil: // still opening: a closed tab leaves the start queue
		grace = min(grace, s.reg.cfg.OpeningGrace)
	}
	s.graceTimer = time.AfterFunc(grace, func() {
		s.mu.Lock()
		idle := len(s.clients) == 0
		s.mu.Unlock()
		if idle {
			s.end("closed", newsPrefix+"abandoned", websocket.CloseNormalClosure)
		}
	})
}

// updatePause pauses the TTY reader when a student client is more than
// High bytes behind and resumes it at Low; viewers never count. s.mu is
// held.
func (s *Session) updatePause() {
	var lag uint64
	for c := range s.clients {
		if !c.viewer {
			lag = max(lag, s.ring.end-c.position())
		}
	}
	if s.students == 0 && s.holding {
		lag = s.ring.end - s.holdPos
	}
	switch {
	case !s.paused && lag > uint64(s.reg.cfg.High):
		s.paused = true
	case s.paused && lag <= uint64(s.reg.cfg.Low):
		s.paused = false
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// ack records that c's client has processed everything before off.
func (s *Session) ack(c *conn, off uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off <= c.acked || off > c.sent {
		return
	}
	c.acked = off
	s.updatePause()
	c.poke() // its window moved
}

// pull returns c's next frame: output it has not had (within its window),
// a Hello when it fell out of the ring, or at the end the final Status and
// close message. frame is nil when there is nothing to send now.
func (s *Session) pull(c *conn) (frame []byte, closeMsg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.sent < s.ring.start() {
		// Too far behind (a slow viewer): skip to what the ring holds.
		off := s.ring.replayStart()
		c.sent, c.acked = off, off
		s.updatePause()
		if !c.legacy {
			return EncodeHello(HelloReply{Session: s.id, Offset: off, Replay: true, ReadOnly: c.viewer, Recording: s.record}), nil
		}
	}
	limit := s.ring.end
	if !c.legacy {
		limit = min(limit, c.acked+uint64(s.reg.cfg.High))
	}
	if c.sent < limit {
		n := min(limit-c.sent, readChunk)
		f := make([]byte, 1+n)
		f[0] = Output
		got := s.ring.read(f[1:], c.sent)
		c.sent += uint64(got)
		if c.legacy {
			s.updatePause()
		}
		return f[:1+got], nil
	}
	if s.ended && c.sent == s.ring.end {
		var st []byte
		if s.endMsg != "" || s.endState != "closed" {
			st = statusFrame(s.endState, s.endMsg)
		} else {
			st = statusFrame("closed", newsPrefix+"closed")
		}
		return st, websocket.FormatCloseMessage(s.endCode, s.endState)
	}
	return nil, nil
}

func (s *Session) input(p []byte) {
	s.mu.Lock()
	tty := s.tty
	if tty == nil {
		if len(s.pending)+len(p) <= maxPending {
			s.pending = append(s.pending, p...)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.inMu.Lock()
	defer s.inMu.Unlock()
	tty.Write(p)
}

func (s *Session) resize(cols, rows uint) {
	s.mu.Lock()
	if s.cols == cols && s.rows == rows {
		s.mu.Unlock()
		return
	}
	s.cols, s.rows = cols, rows
	tty := s.tty
	if tty != nil {
		s.rec.resize(cols, rows)
	}
	s.mu.Unlock()
	if tty != nil {
		s.sizeMu.Lock()
		defer s.sizeMu.Unlock()
		if !s.ttyClosed {
			tty.Resize(cols, rows)
		}
	}
}
