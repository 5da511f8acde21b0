package terminal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// recorder writes a session as asciicast v2: a JSON header line, then one
// JSON array per event, [seconds, "o", text] for output and
// [seconds, "r", "COLSxROWS"] for resizes. Methods on a nil recorder do
// nothing.
type recorder struct {
	path  string
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	start time.Time
	carry []byte // an incomplete UTF-8 sequence at the end of the last output
	last  time.Time
}

func newRecorder(path string, cols, rows uint, title string) (*recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	r := &recorder{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), start: time.Now()}
	hdr, _ := json.Marshal(map[string]any{
		"version": 2, "width": cols, "height": rows, "timestamp": r.start.Unix(),
		"title": title, "env": map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/bash"},
	})
	r.w.Write(hdr)
	r.w.WriteByte('\n')
	return r, nil
}

func (r *recorder) event(kind string, data string) {
	t := time.Since(r.start).Seconds()
	b, _ := json.Marshal(data) // invalid UTF-8 becomes U+FFFD
	fmt.Fprintf(r.w, "[%.6f, %q, %s]\n", t, kind, b)
	if time.Since(r.last) > time.Second { // a crash loses at most a second
		r.w.Flush()
		r.last = time.Now()
	}
}

func (r *recorder) output(p []byte) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	data := append(r.carry, p...)
	// Keep an incomplete trailing UTF-8 sequence for the next event.
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	r.carry = append([]byte(nil), data[cut:]...)
	if cut > 0 {
		r.event("o", string(data[:cut]))
	}
}

func (r *recorder) resize(cols, rows uint) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.event("r", fmt.Sprintf("%dx%d", cols, rows))
}

func (r *recorder) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.carry) > 0 {
		r.event("o", string(r.carry))
	}
	r.w.Flush()
	r.f.Close()
}
