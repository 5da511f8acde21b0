package terminal

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client speaks the protocol from Go, the way the browser does: for tests,
// benchmarks and tools. It tracks the session and the output offset and
// acknowledges output as it reads it.
type Client struct {
	WS *websocket.Conn
	// AckEvery is how many output bytes are acknowledged at once (default
	// 32 KiB); negative: never (a client that sent no Hello).
	AckEvery int

	Session string     // from the last Hello reply
	Offset  uint64     // absolute offset of the next output byte
	Last    HelloReply // the last Hello reply
	Status  StatusMessage
	Replays int // Hello replies that moved the offset (bytes were lost)

	wmu   sync.Mutex
	acked uint64
}

// NewClient wraps an open websocket.
func NewClient(ws *websocket.Conn) *Client { return &Client{WS: ws} }

func (c *Client) write(f []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.WS.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.WS.WriteMessage(websocket.BinaryMessage, f)
}

// Hello sends the first frame of a resumable connection.
func (c *Client) Hello(req HelloRequest) error { return c.write(EncodeHello(req)) }

// Resume sends a Hello for the session and offset the client has.
func (c *Client) Resume(cols, rows uint16) error {
	return c.Hello(HelloRequest{Session: c.Session, Offset: c.Offset, Cols: cols, Rows: rows})
}

// Send types text.
func (c *Client) Send(text string) error { return c.write(Encode(Input, []byte(text))) }

// Resize sends the terminal's size.
func (c *Client) Resize(cols, rows uint16) error { return c.write(EncodeSize(cols, rows)) }

// Next reads one frame; Output advances Offset (and is acknowledged), a
// Hello reply sets Session and Offset, a Status is kept in Status.
func (c *Client) Next() (typ byte, payload []byte, err error) {
	for {
		kind, msg, err := c.WS.ReadMessage()
		if err != nil {
			return 0, nil, err
		}
		if kind != websocket.BinaryMessage {
			continue
		}
		typ, p, err := Decode(msg)
		if err != nil {
			continue
		}
		switch typ {
		case Output:
			c.Offset += uint64(len(p))
			every := c.AckEvery
			if every == 0 {
				every = 32 << 10
			}
			if every > 0 && c.Offset-c.acked >= uint64(every) {
				c.acked = c.Offset
				if err := c.write(EncodeAck(c.Offset)); err != nil {
					return 0, nil, err
				}
			}
		case Hello:
			var h HelloReply
			if err := json.Unmarshal(p, &h); err != nil {
				return 0, nil, fmt.Errorf("bad hello reply: %w", err)
			}
			if h.Session == c.Session && h.Offset != c.Offset {
				c.Replays++
			}
			c.Last, c.Session, c.Offset, c.acked = h, h.Session, h.Offset, h.Offset
		case Status:
			json.Unmarshal(p, &c.Status)
		}
		return typ, p, nil
	}
}

// ReadUntil reads until the output since the call contains want, and
// returns that output.
func (c *Client) ReadUntil(want string, timeout time.Duration) (string, error) {
	var out strings.Builder
	c.WS.SetReadDeadline(time.Now().Add(timeout))
	defer c.WS.SetReadDeadline(time.Time{})
	for !strings.Contains(out.String(), want) {
		typ, p, err := c.Next()
		if err != nil {
			return out.String(), fmt.Errorf("waiting for %q: %w (status %+v)", want, err, c.Status)
		}
		if typ == Output {
			out.Write(p)
		}
	}
	return out.String(), nil
}
