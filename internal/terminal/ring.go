package terminal

// ring keeps the last len(buf) bytes of a stream, addressed by absolute
// offsets: it holds [start(), end).
type ring struct {
	buf []byte
	end uint64 // bytes ever written
}

func newRing(size int) *ring { return &ring{buf: make([]byte, size)} }

func (r *ring) start() uint64 {
	if n := uint64(len(r.buf)); r.end > n {
		return r.end - n
	}
	return 0
}

func (r *ring) write(p []byte) {
	n := len(r.buf)
	if len(p) > n { // only the tail survives
		r.end += uint64(len(p) - n)
		p = p[len(p)-n:]
	}
	at := int(r.end % uint64(n))
	c := copy(r.buf[at:], p)
	copy(r.buf, p[c:])
	r.end += uint64(len(p))
}

// read copies bytes from absolute offset off (start() <= off <= end) into
// dst and returns how many.
func (r *ring) read(dst []byte, off uint64) int {
	if off < r.start() || off >= r.end {
		return 0
	}
	want := min(uint64(len(dst)), r.end-off)
	n := uint64(len(r.buf))
	at := off % n
	c := copy(dst[:want], r.buf[at:min(n, at+want)])
	if uint64(c) < want {
		c += copy(dst[c:want], r.buf)
	}
	return c
}

// replayStart is where a replay from the ring begins: the first line start
// near the ring's start, so the screen does not begin inside an escape
// sequence or a multibyte character.
func (r *ring) replayStart() uint64 {
	s := r.start()
	if s == 0 {
		return 0
	}
	var b [4096]byte
	n := r.read(b[:], s)
	for i := 0; i < n; i++ {
		if b[i] == '\n' {
			return s + uint64(i) + 1
		}
	}
	return s
}
