package terminal

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options for one websocket.
type Options struct {
	// Owner names whose sessions these are (e.g. "u12/docker-basics"): a
	// Hello resumes only a session of the same owner and tab.
	Owner string
	// Tab is which of the owner's terminals (default "1").
	Tab string
	// ReadOnly attaches to the owner's tab as a viewer: never a new shell;
	// input and resizes are dropped; a slow viewer never slows the shell.
	ReadOnly bool
	// Shell is what a new session runs (not needed when ReadOnly).
	Shell Shell
	// Record asks for an asciicast recording of a new session (when the
	// registry has a RecordDir).
	Record bool
}

const (
	maxMessage   = 64 << 10
	pingInterval = 20 * time.Second
	readTimeout  = 2 * pingInterval
	writeTimeout = 10 * time.Second
	// How long to wait for a client's first frame (its Hello): a client
	// that sends none is an old one, whose session ends with its websocket.
	// Our page sends it at once, but a loaded machine (a class starting,
	// CI) was seen to deliver it after more than 2 s: its resumable session
	// was then taken for an old client's and lost on the next reload.
	sizeWait = 10 * time.Second
)

// conn is one websocket: a reader of the client's frames (in order) and
// the only writer.
type conn struct {
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	viewer bool
	shell  Shell // told of input

	ctrl   chan []byte   // Hello and Status frames, before output
	notify chan struct{} // output or the session's end is there
	closer chan []byte   // close before attaching
	done   chan struct{} // the writer has stopped
	first  chan struct{} // the first frame arrived
	sized  chan struct{} // a size arrived
	once   [2]sync.Once

	mu      sync.Mutex
	sess    *Session
	hello   *HelloRequest
	legacy  bool // no Hello: paced by the websocket alone, no acks
	hasSize bool // the client told its size
	cols    uint16
	rows    uint16
	pending []byte

	// guarded by sess.mu
	sent, acked uint64
}

func (c *conn) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// control queues a Hello or Status frame; progress news is dropped rather
// than blocking when the client does not read.
func (c *conn) control(f []byte) {
	select {
	case c.ctrl <- f:
	default:
	}
}

// position is how far the client has taken the output: acknowledged
// bytes, or sent ones for a client without acks.
func (c *conn) position() uint64 {
	if c.legacy {
		return c.sent
	}
	return c.acked
}

func (c *conn) session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Serve runs one websocket until it closes or its session ends. A client
// whose first frame is a Hello resumes (or starts) a session of its tab
// that outlives the websocket; any other client gets a new session that
// ends with it.
func (r *Sessions) Serve(ctx context.Context, ws *websocket.Conn, opts Options) error {
	if opts.Tab == "" {
		opts.Tab = "1"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &conn{
		ws: ws, ctx: ctx, cancel: cancel, viewer: opts.ReadOnly, shell: opts.Shell,
		ctrl: make(chan []byte, 32), notify: make(chan struct{}, 1), closer: make(chan []byte, 1),
		done: make(chan struct{}), first: make(chan struct{}), sized: make(chan struct{}),
		cols: 80, rows: 24,
	}
	go c.writeLoop()
	readErr := make(chan error, 1)
	go func() { readErr <- c.readLoop(); cancel() }()
	finish := func(err error) error {
		<-ctx.Done()
		if s := c.session(); s != nil {
			s.detach(c)
		}
		<-c.done
		if err == nil {
			select {
			case err = <-readErr:
			default:
			}
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				err = nil
			}
		}
		return err
	}

	timer := time.NewTimer(sizeWait)
	defer timer.Stop()
	timedOut := false
	select {
	case <-c.first:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		return finish(nil)
	}
	c.mu.Lock()
	hello := c.hello
	c.legacy = hello == nil
	c.mu.Unlock()
	if hello == nil && !timedOut { // an old client: wait a little for its size
		select {
		case <-c.sized:
		case <-timer.C:
		case <-ctx.Done():
			return finish(nil)
		}
	}

	if opts.ReadOnly {
		var id string
		if hello != nil {
			id = hello.Session
		}
		s, same := r.find(opts.Owner, opts.Tab, id)
		if s == nil || !c.attach(s, hello, same, false) {
			c.closeWith("closed", newsPrefix+"noSession", websocket.CloseNormalClosure)
			return finish(nil)
		}
		return finish(nil)
	}

	if hello != nil && !hello.Fresh {
		if s, same := r.find(opts.Owner, opts.Tab, hello.Session); s != nil && c.attach(s, hello, same, false) {
			return finish(nil)
		}
	}
	c.mu.Lock()
	cols, rows := uint(c.cols), uint(c.rows)
	c.mu.Unlock()
	s, old, err := r.create(opts.Owner, opts.Tab, hello == nil, cols, rows, &opts, 0)
	if err != nil {
		msg := newsPrefix + "shutdown"
		if errors.Is(err, errTooMany) {
			msg = newsPrefix + "tooMany"
		}
		c.closeWith("error", msg, websocket.ClosePolicyViolation)
		return finish(err)
	}
	c.attach(s, nil, false, true)
	if old != nil {
		old.end("closed", newsPrefix+"replaced", websocket.CloseNormalClosure)
	}
	go s.open(&opts)
	return finish(nil)
}

// attach joins s: the Hello reply and the session's status go first, then
// output from the offset the client has (resume) or a replay; typed input
// kept so far is handed over.
func (c *conn) attach(s *Session, hello *HelloRequest, same, isNew bool) bool {
	var offset uint64
	if hello != nil {
		offset = hello.Offset
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := s.attach(c, offset, same, isNew); !ok {
		return false
	}
	c.sess = s
	if !c.viewer {
		if c.hasSize && !isNew {
			s.resize(uint(c.cols), uint(c.rows))
		}
		if len(c.pending) > 0 {
			s.input(c.pending)
			c.pending = nil
		}
	}
	return true
}

// closeWith ends a websocket that has no session: a Status, then a close.
func (c *conn) closeWith(state, msg string, code int) {
	c.control(statusFrame(state, msg))
	select {
	case c.closer <- websocket.FormatCloseMessage(code, state):
	default:
	}
}

// readLoop handles the client's frames in order.
func (c *conn) readLoop() error {
	c.ws.SetReadLimit(maxMessage)
	c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(readTimeout)) })
	for {
		kind, msg, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		if kind != websocket.BinaryMessage {
			continue
		}
		typ, p, err := Decode(msg)
		if err != nil {
			continue
		}
		switch typ {
		case Hello:
			h, err := DecodeHello(p)
			c.mu.Lock()
			isFirst := c.sess == nil && c.hello == nil && !c.firstSeen()
			if err == nil && isFirst {
				c.hello = &h
				if h.Cols != 0 {
					c.cols, c.rows, c.hasSize = h.Cols, h.Rows, true
					c.once[1].Do(func() { close(c.sized) })
				}
			}
			c.mu.Unlock()
		case Input:
			if c.viewer {
				break // read-only
			}
			if c.shell != nil {
				c.shell.Input()
			}
			c.mu.Lock()
			s := c.sess
			if s == nil && len(c.pending)+len(p) <= maxPending {
				c.pending = append(c.pending, p...)
			}
			c.mu.Unlock()
			if s != nil {
				s.input(p)
			}
		case Resize:
			cols, rows, err := DecodeSize(p)
			if err != nil || c.viewer {
				break
			}
			c.mu.Lock()
			c.cols, c.rows, c.hasSize = cols, rows, true
			s := c.sess
			c.mu.Unlock()
			c.once[1].Do(func() { close(c.sized) })
			if s != nil {
				s.resize(uint(cols), uint(rows))
			}
		case Ack:
			off, err := DecodeAck(p)
			if s := c.session(); err == nil && s != nil {
				s.ack(c, off)
			}
		}
		c.once[0].Do(func() { close(c.first) })
	}
}

func (c *conn) firstSeen() bool {
	select {
	case <-c.first:
		return true
	default:
		return false
	}
}

// writeLoop is the only writer of the websocket.
func (c *conn) writeLoop() {
	defer close(c.done)
	defer c.cancel()
	defer c.ws.Close()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	write := func(typ int, f []byte) bool {
		c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		return c.ws.WriteMessage(typ, f) == nil
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case f := <-c.ctrl:
			if !write(websocket.BinaryMessage, f) {
				return
			}
		case msg := <-c.closer:
			c.drainControl(write)
			write(websocket.CloseMessage, msg)
			return
		case <-c.notify:
		case <-ping.C:
			if !write(websocket.PingMessage, nil) {
				return
			}
			continue
		}
		if !c.drainControl(write) {
			return
		}
		s := c.session()
		if s == nil {
			continue
		}
		for {
			f, closeMsg := s.pull(c)
			if f == nil {
				break
			}
			if !write(websocket.BinaryMessage, f) {
				return
			}
			if closeMsg != nil {
				write(websocket.CloseMessage, closeMsg)
				return
			}
			if c.ctx.Err() != nil {
				return
			}
			select { // status news and pings are not held up by a flood
			case f := <-c.ctrl:
				if !write(websocket.BinaryMessage, f) {
					return
				}
			case <-ping.C:
				if !write(websocket.PingMessage, nil) {
					return
				}
			default:
			}
		}
	}
}

func (c *conn) drainControl(write func(int, []byte) bool) bool {
	for {
		select {
		case f := <-c.ctrl:
			if !write(websocket.BinaryMessage, f) {
				return false
			}
		default:
			return true
		}
	}
}
