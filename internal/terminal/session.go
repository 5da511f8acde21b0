package terminal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// TTY is an interactive stream with a size.
type TTY interface {
	io.ReadWriteCloser
	Resize(cols, rows uint) error
}

// Opener starts the TTY once the browser's size is known; it may report
// progress (sandbox start) through status.
type Opener func(ctx context.Context, cols, rows uint, status func(state, msg string)) (TTY, error)

// Options for one terminal connection.
type Options struct {
	Open Opener
	// OnInput is called for each input frame: keystrokes are activity.
	OnInput func()
	// Closed explains why the shell ended, when the server knows better
	// than "the shell exited" (the sandbox was stopped or restarted).
	Closed func() string
	// AfterOpen runs (in its own goroutine) once the shell is attached and
	// the browser told so; it may send further status news.
	AfterOpen func(ctx context.Context, status func(state, msg string))
}

const (
	maxMessage   = 64 << 10
	pingInterval = 20 * time.Second
	readTimeout  = 2 * pingInterval
	writeTimeout = 10 * time.Second
	sizeWait     = 2 * time.Second // how long to wait for the browser's first resize
)

// Serve runs one terminal connection until the websocket or the TTY ends.
// Exactly one goroutine writes to ws.
func Serve(ctx context.Context, ws *websocket.Conn, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &conn{ws: ws, onInput: opts.OnInput, out: make(chan []byte, 64), sized: make(chan struct{}), done: make(chan struct{}), cols: 80, rows: 24}
	go c.writeLoop(ctx, cancel)
	readErr := make(chan error, 1)
	go func() { readErr <- c.readLoop(); cancel() }()

	select {
	case <-c.sized:
	case <-time.After(sizeWait):
	case <-ctx.Done():
		return <-readErr
	}
	c.mu.Lock()
	cols, rows := c.cols, c.rows
	c.mu.Unlock()

	tty, err := opts.Open(ctx, cols, rows, c.status)
	if err != nil {
		c.status("error", err.Error())
		c.closeWith(websocket.CloseInternalServerErr, "sandbox failed")
		return err
	}
	closeTTY := sync.OnceValue(tty.Close)
	defer closeTTY()
	// Unblock the read below when the browser leaves or the server stops.
	stop := context.AfterFunc(ctx, func() { closeTTY() })
	defer stop()
	c.attach(tty)
	c.status("ready", "")
	if opts.AfterOpen != nil {
		go opts.AfterOpen(ctx, c.status)
	}

	buf := make([]byte, 32<<10)
	for {
		n, err := tty.Read(buf)
		if n > 0 && !c.send(ctx, Encode(Output, buf[:n])) {
			return nil // browser gone
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			msg := "The shell exited."
			if opts.Closed != nil {
				if why := opts.Closed(); why != "" {
					msg = why
				}
			}
			c.status("closed", msg)
			c.closeWith(websocket.CloseNormalClosure, "shell exited")
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

type conn struct {
	ws      *websocket.Conn
	out     chan []byte
	onInput func()

	mu         sync.Mutex
	tty        TTY
	cols, rows uint
	sized      chan struct{}
	sizedOnce  sync.Once
	pending    []byte // input typed before the shell was up
	closing    sync.Once
	closeFrame []byte
	done       chan struct{} // closed when the writer has stopped
}

func (c *conn) send(ctx context.Context, frame []byte) bool {
	select {
	case c.out <- frame:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *conn) status(state, msg string) {
	b, _ := json.Marshal(struct {
		State   string `json:"state"`
		Message string `json:"message"`
	}{state, msg})
	select {
	case c.out <- Encode(Status, b):
	default: // never block on progress messages
	}
}

// closeWith sends a close frame after all queued output and waits briefly
// for the writer to deliver it.
func (c *conn) closeWith(code int, reason string) {
	c.closing.Do(func() {
		c.mu.Lock()
		c.closeFrame = websocket.FormatCloseMessage(code, reason)
		c.mu.Unlock()
		select {
		case c.out <- nil:
		case <-c.done:
			return
		}
		select {
		case <-c.done:
		case <-time.After(writeTimeout):
		}
	})
}

func (c *conn) attach(tty TTY) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tty = tty
	if len(c.pending) > 0 {
		tty.Write(c.pending)
		c.pending = nil
	}
}

// readLoop handles the browser's frames in order.
func (c *conn) readLoop() error {
	c.ws.SetReadLimit(maxMessage)
	c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(readTimeout)) })
	for {
		kind, msg, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		if kind != websocket.BinaryMessage {
			continue
		}
		typ, p, err := Decode(msg)
		if err != nil {
			continue
		}
		switch typ {
		case Input:
			if c.onInput != nil {
				c.onInput()
			}
			c.input(p)
		case Resize:
			cols, rows, err := DecodeSize(p)
			if err != nil {
				continue
			}
			c.mu.Lock()
			c.cols, c.rows = uint(cols), uint(rows)
			tty := c.tty
			c.mu.Unlock()
			c.sizedOnce.Do(func() { close(c.sized) })
			if tty != nil {
				tty.Resize(uint(cols), uint(rows))
			}
		}
	}
}

func (c *conn) input(p []byte) {
	c.mu.Lock()
	tty := c.tty
	if tty == nil {
		if len(c.pending)+len(p) <= maxMessage {
			c.pending = append(c.pending, p...)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	tty.Write(p)
}

// writeLoop is the only writer of the websocket.
func (c *conn) writeLoop(ctx context.Context, cancel context.CancelFunc) {
	defer close(c.done)
	defer cancel()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			c.ws.Close()
			return
		case frame := <-c.out:
			c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if frame == nil { // closeWith: everything before it is sent
				c.mu.Lock()
				msg := c.closeFrame
				c.mu.Unlock()
				c.ws.WriteMessage(websocket.CloseMessage, msg)
				c.ws.Close()
				return
			}
			if err := c.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				c.ws.Close()
				return
			}
		case <-ping.C:
			c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.ws.Close()
				return
			}
		}
	}
}
