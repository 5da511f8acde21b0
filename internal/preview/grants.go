package preview

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"handson/internal/apperr"
	"handson/internal/sandbox"
)

// grant lets one user see one sandbox's port, from one platform session.
type grant struct {
	user    int64
	session string // platform session token: its end ends the grant
	key     sandbox.Key
	id      string // the sandbox's id in host names
	port    int
	path    string // codes only: where to go after the login
	lang    string // for the preview's own pages
	backURL string // a page of the platform, for a link back
	expires time.Time
	checked time.Time // access last confirmed
}

// host is a parsed preview host name.
type host struct {
	port int
	id   string
}

var hostLabel = regexp.MustCompile(`^([1-9][0-9]{0,4})-([a-z2-7]{16})$`)

// id names a sandbox in host names: stable, opaque, a DNS label.
func (p *Service) id(key sandbox.Key) string {
	m := hmac.New(sha256.New, p.secret)
	fmt.Fprintf(m, "%d/%s", key.UserID, key.Lab)
	return strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil)[:10]))
}

// hostOf strips the port and a trailing dot, lowercased.
func hostOf(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (p *Service) parseHost(hostport string) (host, bool) {
	label, ok := strings.CutSuffix(hostOf(hostport), "."+p.domain)
	if !ok {
		return host{}, false
	}
	m := hostLabel.FindStringSubmatch(label)
	if m == nil {
		return host{}, false
	}
	port, _ := strconv.Atoi(m[1])
	if port > 65535 {
		return host{}, false
	}
	return host{port: port, id: m[2]}, true
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pruneLocked drops expired codes and grants, at most once a minute.
func (p *Service) pruneLocked(now time.Time) {
	if now.Sub(p.pruned) < time.Minute {
		return
	}
	p.pruned = now
	for k, g := range p.codes {
		if now.After(g.expires) {
			delete(p.codes, k)
		}
	}
	for k, g := range p.grants {
		if now.After(g.expires) {
			delete(p.grants, k)
		}
	}
}

func (p *Service) newCode(g *grant) (string, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	if len(p.codes) >= maxCodes {
		return "", apperr.New(apperr.Unavailable, "err.preview.busy")
	}
	code := randomToken()
	g.expires = now.Add(codeTTL)
	p.codes[code] = g
	return code, nil
}

// takeCode returns the code's grant once, and never again.
func (p *Service) takeCode(code string) *grant {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.codes[code]
	delete(p.codes, code)
	if g == nil || time.Now().After(g.expires) {
		return nil
	}
	return g
}

func (p *Service) newGrant(g *grant) string {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	token := randomToken()
	g.expires, g.checked, g.path = now.Add(grantTTL), now, ""
	p.grants[token] = g
	return token
}

// grant finds, among the request's preview cookies, the one for this
// host. A page of another preview may have planted cookies of the same
// name for the parent domain: they are skipped, not mistaken for this one.
func (p *Service) grant(r *http.Request, h host) (string, *grant) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range cookieNames {
		for _, c := range r.CookiesNamed(name) {
			if g := p.grants[c.Value]; g != nil && g.id == h.id && g.port == h.port && now.Before(g.expires) {
				return c.Value, g
			}
		}
	}
	return "", nil
}

func (p *Service) drop(token string) {
	p.mu.Lock()
	delete(p.grants, token)
	p.mu.Unlock()
}
