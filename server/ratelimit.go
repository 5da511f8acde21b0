package server

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter allows each key a burst of failures, then one per interval.
// Only failures count, so a class behind one address logging in at nine
// o'clock is not throttled.
type limiter struct {
	every time.Duration
	burst int

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, keys: map[string]*entry{}}
}

// blocked reports whether any key has no failure left.
func (l *limiter) blocked(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, k := range keys {
		if e, ok := l.keys[k]; ok && e.lim.TokensAt(now) < 1 {
			return true
		}
	}
	return false
}

// fail spends one failure of every key.
func (l *limiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.keys) > 10000 { // forget the quiet ones
		for k, e := range l.keys {
			if now.Sub(e.seen) > time.Duration(l.burst)*l.every {
				delete(l.keys, k)
			}
		}
	}
	for _, k := range keys {
		e, ok := l.keys[k]
		if !ok {
			e = &entry{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
			l.keys[k] = e
		}
		e.seen = now
		e.lim.AllowN(now, 1)
	}
}

// clientIP is the connection's address; X-Forwarded-For is not trusted
// (anyone can send it).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
