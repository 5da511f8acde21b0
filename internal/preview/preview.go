// Package preview is the web preview: what a student runs on port P in
// their sandbox, shown in the browser on an origin of its own,
// http://P-ID.<preview domain>, so that nothing a student writes can read
// or set the platform's cookies or call its API with the student's (or an
// instructor's) session.
//
//	lab page ── GET /preview/open?lab=L&port=P[&user=U][&path=/x] (platform origin, logged in)
//	   │   the platform's handler calls Open; access: the sandbox's owner, or that student's instructor
//	   └─► 303 to http://P-ID.preview.localhost:8080/__handson/login?code=C
//	          one-time code, 60 s; sets the preview cookie (host-only, HttpOnly)
//	       └─► 303 to /x, proxied to the sandbox's address, port P
//
// The platform routes by Host before anything else: preview hosts
// (IsPreviewHost) go to the Service and nothing else, so preview hosts
// never reach the platform's routes and the platform's host never reaches
// a sandbox. The package knows the platform only through Platform.
package preview

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"handson/frontend"
	"handson/internal/apperr"
	"handson/internal/i18n"
	"handson/internal/sandbox"
)

// Platform is what the preview needs of the platform: its sessions, its
// access rule and its sandboxes.
type Platform interface {
	// SessionUser is the user of a live platform session; ok is false
	// once the session has ended (logout, expiry, a password reset).
	SessionUser(ctx context.Context, session string) (user int64, ok bool, err error)
	// MayPreview reports whether viewer may see student's sandboxes:
	// their own, or as one of the student's instructors.
	MayPreview(ctx context.Context, viewer, student int64) (bool, error)
	// Addr is where the platform reaches key's running sandbox, or
	// sandbox.ErrNotRunning.
	Addr(ctx context.Context, key sandbox.Key) (netip.Addr, error)
	// Touch tells that someone is looking at key's sandbox, which keeps
	// it from stopping as idle.
	Touch(key sandbox.Key)
}

// Config is what New needs.
type Config struct {
	// Domain is "preview.localhost", or "preview.example.net[:port]"
	// behind a wildcard DNS name; hosts are <port>-<id>.<Domain>.
	Domain string
	// Secret names sandboxes in host names; the same secret after a
	// restart keeps host names (apps such as WordPress remember theirs).
	Secret []byte
	// Secure: the platform is served over TLS (https URLs, a __Host-
	// preview cookie).
	Secure bool
	// PlatformCookies are the names of the platform's session cookie:
	// never forwarded to a sandbox, never set by one.
	PlatformCookies []string
	Platform        Platform
	Log             *slog.Logger
}

const (
	// loginPath is where a preview host trades a one-time code for its
	// cookie. Paths under /__handson/ are the platform's on a preview
	// host; everything else goes to the sandbox.
	loginPath = "/__handson/login"
	reserved  = "/__handson/"

	codeTTL  = 60 * time.Second
	grantTTL = 12 * time.Hour
	// recheck is how often a grant's session and access are checked
	// again: a logout, a password reset or leaving a class ends it.
	recheck  = 30 * time.Second
	maxCodes = 10000
	// retry is how often the "not yet" pages reload themselves.
	retry = 3
)

// cookieNames are the preview cookie's names (plain and __Host-): never
// forwarded to a sandbox either.
var cookieNames = []string{"handson-preview", "__Host-handson-preview"}

// Service is the preview's state: host names, one-time codes and the
// grants behind preview cookies. Codes and grants live in memory: after a
// restart the student opens the preview again from the lab page (the host
// name, derived from the secret, stays the same, so an app that remembers
// its URL, like WordPress, keeps working).
type Service struct {
	domain   string // host names are <port>-<id>.<domain>
	port     string // port in preview URLs; empty: the platform request's port
	secret   []byte // for ids
	secure   bool
	platform Platform
	blocked  []string // cookie names never forwarded nor set: the platform's and the preview's
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	page     *template.Template

	mu     sync.Mutex
	codes  map[string]*grant // one-time codes
	grants map[string]*grant // preview cookie values
	pruned time.Time
}

// ValidDomain reports whether d can be a preview domain: a DNS name of
// two or more labels, optionally with a port.
func ValidDomain(d string) error {
	host := d
	if h, p, err := net.SplitHostPort(d); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("preview domain %q: bad port", d)
		}
		host = h
	}
	label := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	parts := strings.Split(host, ".")
	if len(parts) < 2 {
		return fmt.Errorf("preview domain %q: give a domain of its own, like preview.localhost or preview.example.net", d)
	}
	for _, p := range parts {
		if !label.MatchString(p) {
			return fmt.Errorf("preview domain %q: %q is not a lowercase DNS label", d, p)
		}
	}
	return nil
}

// New makes the preview of c.Domain.
func New(c Config) (*Service, error) {
	if err := ValidDomain(c.Domain); err != nil {
		return nil, err
	}
	p := &Service{
		domain: c.Domain, secret: c.Secret, secure: c.Secure, platform: c.Platform, log: c.Log,
		blocked: append(append([]string{}, c.PlatformCookies...), cookieNames...),
		codes:   map[string]*grant{}, grants: map[string]*grant{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if h, port, err := net.SplitHostPort(c.Domain); err == nil {
		p.domain, p.port = h, port
	}
	page, err := template.New("preview.html").Funcs(template.FuncMap{"t": i18n.T}).ParseFS(frontend.Templates, "templates/preview.html")
	if err != nil {
		return nil, fmt.Errorf("template preview: %w", err)
	}
	p.page = page
	// A transport of its own: no proxy from the environment (the sandbox
	// is on this host), short dials (a sandbox answers at once or not).
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     60 * time.Second,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		ModifyResponse: p.filterSetCookies,
		ErrorHandler:   p.proxyError,
	}
	return p, nil
}

// An Opening is a request, made on the platform by a logged-in user, to
// open a sandbox's port in the preview.
type Opening struct {
	Viewer  int64       // who opens it
	Session string      // the viewer's platform session: its end ends the preview
	Key     sandbox.Key // whose sandbox, of which lab
	Port    int
	Path    string // where to go on the preview host; not a local path: "/"
	Lang    string // of the preview's own pages
	Back    string // the platform's page (a path) the preview's pages link back to
}

// Open answers a request on the platform (GET /preview/open): it checks
// access and sends the browser to the preview host with a one-time code.
func (p *Service) Open(w http.ResponseWriter, r *http.Request, o Opening) error {
	if o.Port < 1 || o.Port > 65535 {
		return apperr.New(apperr.Invalid, "err.preview.port")
	}
	if ok, err := p.platform.MayPreview(r.Context(), o.Viewer, o.Key.UserID); err != nil {
		return err
	} else if !ok {
		return apperr.New(apperr.Forbidden, "err.preview.notyours")
	}
	g := &grant{
		user: o.Viewer, session: o.Session, key: o.Key, id: p.id(o.Key), port: o.Port,
		path: localPath(o.Path), lang: o.Lang, backURL: p.scheme(r) + "://" + r.Host + o.Back,
	}
	code, err := p.newCode(g)
	if err != nil {
		return err
	}
	p.log.Info("preview opened", "viewer", o.Viewer, "student", o.Key.UserID, "lab", o.Key.Lab, "port", o.Port)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.origin(r, o.Key, o.Port)+loginPath+"?code="+code, http.StatusSeeOther)
	return nil
}

// RevokeSession ends the grants a platform session made (logout).
func (p *Service) RevokeSession(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.grants {
		if g.session == session {
			delete(p.grants, k)
		}
	}
}

// IsPreviewHost reports whether a request's Host is the preview's: the
// preview domain or any name under it.
func (p *Service) IsPreviewHost(hostport string) bool {
	h := hostOf(hostport)
	return h == p.domain || strings.HasSuffix(h, "."+p.domain)
}

func (p *Service) scheme(r *http.Request) string {
	if r.TLS != nil || p.secure {
		return "https"
	}
	return "http"
}

// origin is the origin of key's port on the preview domain. Its port is
// the preview domain's, else the one the browser used for the platform
// (the same listener serves both).
func (p *Service) origin(r *http.Request, key sandbox.Key, port int) string {
	host := fmt.Sprintf("%d-%s.%s", port, p.id(key), p.domain)
	if p.port != "" {
		host += ":" + p.port
	} else if _, port, err := net.SplitHostPort(r.Host); err == nil {
		host += ":" + port
	}
	return p.scheme(r) + "://" + host
}

// localPath keeps where to go after the login on the preview host.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") || strings.HasPrefix(p, reserved) {
		return "/"
	}
	return p
}

func (p *Service) cookieName() string {
	if p.secure {
		return cookieNames[1] // __Host-: Secure, Path=/, no Domain; no other host can plant it
	}
	return cookieNames[0]
}

// ServeHTTP answers every request on a preview host.
func (p *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := p.parseHost(r.Host)
	if !ok {
		lang := langOf(r)
		p.showPage(w, http.StatusNotFound, pageData{Lang: lang, State: "unknown", Title: i18n.T(lang, "preview.unknown.title"), Message: i18n.T(lang, "preview.unknown")})
		return
	}
	if r.URL.Path == loginPath {
		p.login(w, r, h)
		return
	}
	if strings.HasPrefix(r.URL.Path, reserved) {
		http.NotFound(w, r)
		return
	}
	token, g := p.grant(r, h)
	if g == nil {
		lang := langOf(r)
		p.showPage(w, http.StatusForbidden, pageData{Lang: lang, State: "forbidden", Title: i18n.T(lang, "preview.forbidden.title"), Message: i18n.T(lang, "preview.forbidden")})
		return
	}
	if !p.requestAllowed(r, h) {
		p.showPage(w, http.StatusForbidden, pageData{Lang: g.lang, State: "cross-site", Title: i18n.T(g.lang, "preview.forbidden.title"), Message: i18n.T(g.lang, "preview.crosssite")})
		return
	}
	if err := p.recheck(r.Context(), g); err != nil {
		p.drop(token)
		if apperr.Code(err) == apperr.Internal {
			p.log.Error("preview access", "err", err)
		}
		p.showPage(w, http.StatusForbidden, pageData{Lang: g.lang, State: "forbidden", Title: i18n.T(g.lang, "preview.forbidden.title"), Message: i18n.T(g.lang, "preview.forbidden")})
		return
	}
	addr, err := p.platform.Addr(r.Context(), g.key)
	if err != nil {
		p.addrError(w, g, err)
		return
	}
	// Someone looking at the page keeps the sandbox from stopping as idle;
	// a page's own background requests (polls, heartbeats) do not, or an
	// open tab would keep a sandbox running for good.
	if personActive(r) {
		p.platform.Touch(g.key)
	}
	ctx := context.WithValue(r.Context(), targetKey{}, &target{addr: netip.AddrPortFrom(addr, uint16(h.port)), host: h, g: g})
	p.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// login trades a one-time code for the preview cookie of this host.
func (p *Service) login(w http.ResponseWriter, r *http.Request, h host) {
	g := p.takeCode(r.URL.Query().Get("code"))
	if g == nil || g.id != h.id || g.port != h.port {
		// A reload of a used link: a browser already let in goes on.
		if _, had := p.grant(r, h); had != nil {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		lang := langOf(r)
		p.showPage(w, http.StatusForbidden, pageData{Lang: lang, State: "expired", Title: i18n.T(lang, "preview.forbidden.title"), Message: i18n.T(lang, "preview.expired")})
		return
	}
	if old, _ := p.grant(r, h); old != "" {
		p.drop(old)
	}
	path := g.path
	token := p.newGrant(g)
	// Host-only (no Domain), HttpOnly: the sandbox's pages cannot read
	// it, and no other host gets it. No Max-Age: gone with the browser.
	http.SetCookie(w, &http.Cookie{
		Name:     p.cookieName(),
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   p.secure,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// recheck confirms, every recheck period, that the grant's platform
// session is alive and its user may still see the sandbox.
func (p *Service) recheck(ctx context.Context, g *grant) error {
	p.mu.Lock()
	fresh := time.Since(g.checked) < recheck
	p.mu.Unlock()
	if fresh {
		return nil
	}
	user, ok, err := p.platform.SessionUser(ctx, g.session)
	switch {
	case err != nil:
		return err
	case !ok:
		return apperr.Errorf(apperr.Forbidden, "session ended")
	case user != g.user:
		return apperr.Errorf(apperr.Forbidden, "session of another user")
	}
	if ok, err := p.platform.MayPreview(ctx, user, g.key.UserID); err != nil {
		return err
	} else if !ok {
		return apperr.Errorf(apperr.Forbidden, "no access any more")
	}
	p.mu.Lock()
	g.checked = time.Now()
	p.mu.Unlock()
	return nil
}

// requestAllowed refuses what another site's page makes a browser send
// here. Every preview host is same-site with every other (they share the
// preview domain), so the cookie's SameSite cannot tell a student's page
// from a page of another student that the instructor opened; the browser's
// Fetch Metadata can. Allowed: the page's own requests, typed URLs and
// bookmarks, requests without Fetch Metadata (not a browser, or an old
// one), navigations with GET (links, the lab page's), and requests from
// another port of the same sandbox.
func (p *Service) requestAllowed(r *http.Request, h host) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return true
	}
	for _, from := range []string{r.Header.Get("Origin"), r.Header.Get("Referer")} {
		if u, err := url.Parse(from); err == nil && u.Host != "" {
			if other, ok := p.parseHost(u.Host); ok && other.id == h.id {
				return true
			}
		}
	}
	return false
}

// personActive reports whether a request is someone at the page: a
// navigation or a websocket opening, not a script's background request.
func personActive(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "navigate", "websocket":
		return true
	case "":
		return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/html")
	}
	return false
}
