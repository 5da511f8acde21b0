// Package terminal connects a browser's terminal (xterm.js over a
// websocket) to a TTY in a sandbox. A terminal session belongs to the
// server, not to a websocket: it survives reloads and dropped connections,
// keeps its recent output in a ring with absolute offsets, paces the TTY by
// the bytes the browser acknowledged, and lets read-only viewers watch. The
// wire protocol is in docs/terminal.md.
package terminal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"handson/internal/i18n"
	"regexp"
	"strings"
)

// Frame types: the first byte of every binary websocket message.
const (
	Input  byte = 0x01 // client→server: bytes typed
	Output byte = 0x02 // server→client: bytes from the TTY
	Resize byte = 0x03 // client→server: cols, rows as big-endian uint16
	Ack    byte = 0x04 // client→server: absolute offset processed, big-endian uint64
	Hello  byte = 0x05 // both ways: JSON HelloRequest / HelloReply
	Status byte = 0x06 // server→client: JSON {"state","message"}
)

// Encode builds a frame.
func Encode(typ byte, payload []byte) []byte {
	f := make([]byte, 1+len(payload))
	f[0] = typ
	copy(f[1:], payload)
	return f
}

// Decode splits a frame into its type and payload.
func Decode(frame []byte) (byte, []byte, error) {
	if len(frame) == 0 {
		return 0, nil, errors.New("empty frame")
	}
	return frame[0], frame[1:], nil
}

// EncodeSize builds a Resize frame.
func EncodeSize(cols, rows uint16) []byte {
	f := []byte{Resize, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(f[1:], cols)
	binary.BigEndian.PutUint16(f[3:], rows)
	return f
}

// DecodeSize reads a Resize payload; sizes outside 1..1000 are refused.
func DecodeSize(p []byte) (cols, rows uint16, err error) {
	if len(p) != 4 {
		return 0, 0, errors.New("resize payload must be 4 bytes")
	}
	cols, rows = binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	if !validSize(cols, rows) {
		return 0, 0, errors.New("resize out of range")
	}
	return cols, rows, nil
}

func validSize(cols, rows uint16) bool {
	return cols >= 1 && rows >= 1 && cols <= 1000 && rows <= 1000
}

// EncodeAck builds an Ack frame: the client has processed every output
// byte before offset.
func EncodeAck(offset uint64) []byte {
	f := make([]byte, 9)
	f[0] = Ack
	binary.BigEndian.PutUint64(f[1:], offset)
	return f
}

// DecodeAck reads an Ack payload.
func DecodeAck(p []byte) (uint64, error) {
	if len(p) != 8 {
		return 0, errors.New("ack payload must be 8 bytes")
	}
	return binary.BigEndian.Uint64(p), nil
}

// HelloRequest is the client's first frame. A client that sends none (its
// first frame is a Resize or Input) gets a new session that ends with its
// websocket and is paced by the websocket alone, without acks.
type HelloRequest struct {
	// Session is the id from an earlier HelloReply; empty for none.
	Session string `json:"session,omitempty"`
	// Offset is how many output bytes of that session the client has
	// (the absolute offset of the next byte it wants); 0 on a fresh page.
	Offset uint64 `json:"offset"`
	// Fresh asks for a new shell even if the tab has one (after a reset).
	Fresh bool `json:"fresh,omitempty"`
	// Cols and Rows are the terminal's size (optional; a Resize may follow).
	Cols uint16 `json:"cols,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
}

// HelloReply is the server's answer; Output frames follow from Offset. The
// server sends another HelloReply (Replay true) when a client that fell too
// far behind is moved ahead.
type HelloReply struct {
	Session string `json:"session"`
	Offset  uint64 `json:"offset"`
	// Replay: output restarts at Offset with what the ring still holds;
	// the bytes between the client's offset and Offset are lost, so the
	// client clears its screen before writing.
	Replay bool `json:"replay,omitempty"`
	// New: a new shell was started for this connection.
	New bool `json:"new,omitempty"`
	// ReadOnly: a viewer; input and resizes are dropped.
	ReadOnly bool `json:"readonly,omitempty"`
	// Recording: output and resizes are recorded (asciicast v2).
	Recording bool `json:"recording,omitempty"`
}

var sessionIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// DecodeHello reads a client's Hello payload.
func DecodeHello(p []byte) (HelloRequest, error) {
	var h HelloRequest
	if len(p) > 1024 {
		return h, errors.New("hello too long")
	}
	if err := json.Unmarshal(p, &h); err != nil {
		return h, err
	}
	if !sessionIDRe.MatchString(h.Session) {
		return h, errors.New("bad session id")
	}
	if (h.Cols != 0 || h.Rows != 0) && !validSize(h.Cols, h.Rows) {
		return h, errors.New("size out of range")
	}
	return h, nil
}

// EncodeHello builds a Hello frame (either direction).
func EncodeHello(v any) []byte {
	b, _ := json.Marshal(v)
	return Encode(Hello, b)
}

// StatusMessage is a Status frame's payload.
type StatusMessage struct {
	State   string `json:"state"` // starting, ready, closed, error
	Message string `json:"message"`
	// Code, when set, is the catalog key of Message (internal/i18n): the
	// page says it in its own language.
	Code string `json:"code,omitempty"`
}

// EncodeStatus builds a Status frame.
func EncodeStatus(state, msg string) []byte {
	b, _ := json.Marshal(StatusMessage{State: state, Message: msg})
	return Encode(Status, b)
}

// newsPrefix starts the catalog keys of the terminal's own news ("the
// shell exited"); other messages come said already, in the student's
// language, from the shell's side (a sandbox's news).
const newsPrefix = "web.term.news."

// statusFrame builds a Status frame of msg: for the terminal's own news its
// catalog key, with the English text for clients without the catalog.
func statusFrame(state, msg string) []byte {
	if !strings.HasPrefix(msg, newsPrefix) {
		return EncodeStatus(state, msg)
	}
	b, _ := json.Marshal(StatusMessage{State: state, Message: i18n.T("en", msg), Code: msg})
	return Encode(Status, b)
}
