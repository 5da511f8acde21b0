// Package terminal connects a browser's terminal (xterm.js over a
// websocket) to a TTY in a sandbox. The wire protocol is in docs/terminal.md.
package terminal

import (
	"encoding/binary"
	"errors"
)

// Frame types: the first byte of every binary websocket message.
const (
	Input  byte = 0x01 // client→server: bytes typed
	Output byte = 0x02 // server→client: bytes from the TTY
	Resize byte = 0x03 // client→server: cols, rows as big-endian uint16
	Ack    byte = 0x04 // reserved: flow control by acknowledged bytes
	Hello  byte = 0x05 // reserved: resume after reconnect
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
	if cols == 0 || rows == 0 || cols > 1000 || rows > 1000 {
		return 0, 0, errors.New("resize out of range")
	}
	return cols, rows, nil
}
