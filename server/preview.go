package server

// The web preview: what a student runs on port P in their sandbox, shown in
// the browser on an origin of its own, http://P-ID.<preview domain>, so that
// nothing a student writes can read or set the platform's cookies or call
// its API with the student's (or an instructor's) session.
//
//	lab page ── GET /preview/open?lab=L&port=P[&user=U][&path=/x] (platform origin, logged in)
//	   │   access checked: the sandbox's owner, or that student's instructor
//	   └─► 303 to http://P-ID.preview.localhost:8080/__handson/login?code=C
//	          one-time code, 60 s; sets the preview cookie (host-only, HttpOnly)
//	       └─► 303 to /x, proxied to the sandbox's address, port P
//
// Preview hosts never reach the platform's routes, and the platform's host
// never reaches a sandbox: Handler routes by Host before anything else.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"handson/frontend"
	"handson/internal/apperr"
	"handson/internal/i18n"
	"handson/internal/sandbox"
	"handson/internal/store"
)

const (
	// previewLoginPath is where a preview host trades a one-time code for
	// its cookie. Paths under /__handson/ are the platform's on a preview
	// host; everything else goes to the sandbox.
	previewLoginPath = "/__handson/login"
	previewReserved  = "/__handson/"

	previewCodeTTL  = 60 * time.Second
	previewGrantTTL = 12 * time.Hour
	// previewRecheck is how often a grant's session and access are checked
	// again: a logout, a password reset or leaving a class ends it.
	previewRecheck  = 30 * time.Second
	previewMaxCodes = 10000
	// previewRetry is how often the "not yet" pages reload themselves.
	previewRetry = 3
)

// platformCookieNames are the session cookie's names (plain and __Host-):
// never forwarded to a sandbox, whatever the browser sends.
var platformCookieNames = []string{"handson", "__Host-handson"}

// previewCookieNames are the preview cookie's names, also never forwarded.
var previewCookieNames = []string{"handson-preview", "__Host-handson-preview"}

// previews is the preview's state: host names, one-time codes and the
// grants behind preview cookies. Codes and grants live in memory: after a
// restart the student opens the preview again from the lab page (the host
// name, derived from a stored secret, stays the same, so an app that
// remembers its URL, like WordPress, keeps working).
type previews struct {
	domain string // host names are <port>-<id>.<domain>
	port   string // port in preview URLs; empty: the platform request's port
	secret []byte // for ids
	proxy  *httputil.ReverseProxy
	page   *template.Template

	mu     sync.Mutex
	codes  map[string]*previewGrant // one-time codes
	grants map[string]*previewGrant // preview cookie values
	pruned time.Time
}

// previewGrant lets one user see one sandbox's port, from one platform
// session.
type previewGrant struct {
	user    int64
	session string // platform session token: its end ends the grant
	key     sandbox.Key
	id      string // the sandbox's id in host names
	port    int
	path    string // codes only: where to go after the login
	lang    string // for the preview's own pages
	labURL  string // the lab page on the platform, for a link back
	expires time.Time
	checked time.Time // access last confirmed
}

// previewHost is a parsed preview host name.
type previewHost struct {
	port int
	id   string
}

var previewLabel = regexp.MustCompile(`^([1-9][0-9]{0,4})-([a-z2-7]{16})$`)

// ValidPreviewDomain reports whether d can be a preview domain: a DNS name
// of two or more labels, optionally with a port.
func ValidPreviewDomain(d string) error {
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

func (s *Server) newPreviews(secret []byte) (*previews, error) {
	if err := ValidPreviewDomain(s.PreviewDomain); err != nil {
		return nil, err
	}
	p := &previews{domain: s.PreviewDomain, secret: secret, codes: map[string]*previewGrant{}, grants: map[string]*previewGrant{}}
	if h, port, err := net.SplitHostPort(s.PreviewDomain); err == nil {
		p.domain, p.port = h, port
	}
	page, err := template.New("preview.html").Funcs(template.FuncMap{"t": tr}).ParseFS(frontend.Templates, "templates/preview.html")
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
		Rewrite:        s.rewritePreview,
		Transport:      transport,
		ModifyResponse: filterSetCookies,
		ErrorHandler:   s.previewProxyError,
	}
	return p, nil
}

// id names a sandbox in host names: stable, opaque, a DNS label.
func (p *previews) id(key sandbox.Key) string {
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

// isPreviewHost reports whether a request's Host is the preview's: the
// preview domain or any name under it.
func (p *previews) isPreviewHost(hostport string) bool {
	h := hostOf(hostport)
	return h == p.domain || strings.HasSuffix(h, "."+p.domain)
}

func (p *previews) parseHost(hostport string) (previewHost, bool) {
	label, ok := strings.CutSuffix(hostOf(hostport), "."+p.domain)
	if !ok {
		return previewHost{}, false
	}
	m := previewLabel.FindStringSubmatch(label)
	if m == nil {
		return previewHost{}, false
	}
	port, _ := strconv.Atoi(m[1])
	if port > 65535 {
		return previewHost{}, false
	}
	return previewHost{port: port, id: m[2]}, true
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pruneLocked drops expired codes and grants, at most once a minute.
func (p *previews) pruneLocked(now time.Time) {
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

func (p *previews) newCode(g *previewGrant) (string, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	if len(p.codes) >= previewMaxCodes {
		return "", apperr.Errorf(apperr.Unavailable, "Too many previews are being opened right now. Try again in a minute.")
	}
	code := randomToken()
	g.expires = now.Add(previewCodeTTL)
	p.codes[code] = g
	return code, nil
}

// takeCode returns the code's grant once, and never again.
func (p *previews) takeCode(code string) *previewGrant {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.codes[code]
	delete(p.codes, code)
	if g == nil || time.Now().After(g.expires) {
		return nil
	}
	return g
}

func (p *previews) newGrant(g *previewGrant) string {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	token := randomToken()
	g.expires, g.checked, g.path = now.Add(previewGrantTTL), now, ""
	p.grants[token] = g
	return token
}

// grant finds, among the request's preview cookies, the one for this
// host. A page of another preview may have planted cookies of the same
// name for the parent domain: they are skipped, not mistaken for this one.
func (p *previews) grant(r *http.Request, h previewHost) (string, *previewGrant) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range previewCookieNames {
		for _, c := range r.CookiesNamed(name) {
			if g := p.grants[c.Value]; g != nil && g.id == h.id && g.port == h.port && now.Before(g.expires) {
				return c.Value, g
			}
		}
	}
	return "", nil
}

func (p *previews) drop(token string) {
	p.mu.Lock()
	delete(p.grants, token)
	p.mu.Unlock()
}

// revokeSession ends the grants a platform session made (logout).
func (p *previews) revokeSession(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.grants {
		if g.session == session {
			delete(p.grants, k)
		}
	}
}

func (s *Server) previewCookieName() string {
	if s.SecureCookies {
		return previewCookieNames[1] // __Host-: Secure, Path=/, no Domain; no other host can plant it
	}
	return previewCookieNames[0]
}

// mayPreview reports whether viewer may see student's sandboxes: their own,
// or as the student's instructor (the rule of the terminal viewer).
func (s *Server) mayPreview(ctx context.Context, viewer *store.User, student int64) (bool, error) {
	if viewer.ID == student {
		return true, nil
	}
	if viewer.Role != store.RoleInstructor && viewer.Role != store.RoleAdmin {
		return false, nil
	}
	return s.Store.TeachesUser(ctx, viewer, student)
}

// openPreview is GET /preview/open?lab=L&port=P[&user=U][&path=/x] on the
// platform: it checks access and sends the browser to the preview host
// with a one-time code.
func (s *Server) openPreview(w http.ResponseWriter, r *http.Request) error {
	if s.preview == nil {
		return apperr.Errorf(apperr.NotFound, "The web preview is turned off on this server.")
	}
	q := r.URL.Query()
	entry := s.CurrentCourse().Lab(q.Get("lab"))
	if entry == nil {
		return apperr.Errorf(apperr.NotFound, "There is no such lab.")
	}
	port, err := strconv.Atoi(q.Get("port"))
	if err != nil || port < 1 || port > 65535 {
		return apperr.Errorf(apperr.Invalid, "Give a port between 1 and 65535.")
	}
	viewer := userOf(r)
	student := viewer.ID
	if q.Has("user") {
		if student, err = strconv.ParseInt(q.Get("user"), 10, 64); err != nil || student <= 0 {
			return apperr.Errorf(apperr.Invalid, "Bad user.")
		}
	}
	if ok, err := s.mayPreview(r.Context(), viewer, student); err != nil {
		return err
	} else if !ok {
		return apperr.Errorf(apperr.Forbidden, "This sandbox is not yours, and its student is not in a class you teach.")
	}
	key := sandbox.Key{UserID: student, Lab: entry.ID}
	platform := s.scheme(r) + "://" + r.Host
	g := &previewGrant{
		user: viewer.ID, session: sessionOf(r), key: key, id: s.preview.id(key), port: port,
		path: previewPath(q.Get("path")), lang: s.uiLang(r), labURL: platform + "/labs/" + url.PathEscape(entry.ID),
	}
	if student != viewer.ID {
		g.labURL = fmt.Sprintf("%s/classes", platform)
	}
	code, err := s.preview.newCode(g)
	if err != nil {
		return err
	}
	s.Log.Info("preview opened", "viewer", viewer.ID, "student", student, "lab", entry.ID, "port", port)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.previewOrigin(r, key, port)+previewLoginPath+"?code="+code, http.StatusSeeOther)
	return nil
}

func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil || s.SecureCookies {
		return "https"
	}
	return "http"
}

// previewOrigin is the origin of key's port on the preview domain. Its
// port is the preview domain's, else the one the browser used for the
// platform (the same listener serves both).
func (s *Server) previewOrigin(r *http.Request, key sandbox.Key, port int) string {
	host := fmt.Sprintf("%d-%s.%s", port, s.preview.id(key), s.preview.domain)
	if s.preview.port != "" {
		host += ":" + s.preview.port
	} else if _, p, err := net.SplitHostPort(r.Host); err == nil {
		host += ":" + p
	}
	return s.scheme(r) + "://" + host
}

// previewPath keeps where to go after the login on the preview host.
func previewPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") || strings.HasPrefix(p, previewReserved) {
		return "/"
	}
	return p
}

// previewPageData is what templates/preview.html shows.
type previewPageData struct {
	Lang, Title, Message, State string
	Retry                       int    // seconds before the page reloads itself; 0: never
	LabURL                      string // back to the platform
}

// previewPage answers with the preview's own page (not the platform's
// layout: its links and forms would land on the preview host).
func (s *Server) previewPage(w http.ResponseWriter, code int, d previewPageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if d.Retry > 0 {
		h.Set("Retry-After", strconv.Itoa(d.Retry))
	}
	w.WriteHeader(code)
	if err := s.preview.page.Execute(w, d); err != nil {
		s.Log.Error("preview page", "err", err)
	}
}

// langOf picks the language of a preview page without a grant: the
// browser's.
func langOf(r *http.Request) string {
	for _, l := range acceptLanguages(r) {
		if i18n.Supported(l) {
			return l
		}
	}
	return i18n.Langs[0]
}

// previewTarget travels in the request's context to the proxy's Rewrite.
type previewTarget struct {
	addr netip.AddrPort
	host previewHost
	g    *previewGrant
}

type previewTargetKey struct{}

// servePreview answers every request on a preview host.
func (s *Server) servePreview(w http.ResponseWriter, r *http.Request) {
	h, ok := s.preview.parseHost(r.Host)
	if !ok {
		lang := langOf(r)
		s.previewPage(w, http.StatusNotFound, previewPageData{Lang: lang, State: "unknown", Title: tr(lang, "preview.unknown.title"), Message: tr(lang, "preview.unknown")})
		return
	}
	if r.URL.Path == previewLoginPath {
		s.previewLogin(w, r, h)
		return
	}
	if strings.HasPrefix(r.URL.Path, previewReserved) {
		http.NotFound(w, r)
		return
	}
	token, g := s.preview.grant(r, h)
	if g == nil {
		lang := langOf(r)
		s.previewPage(w, http.StatusForbidden, previewPageData{Lang: lang, State: "forbidden", Title: tr(lang, "preview.forbidden.title"), Message: tr(lang, "preview.forbidden")})
		return
	}
	if !s.preview.requestAllowed(r, h) {
		s.previewPage(w, http.StatusForbidden, previewPageData{Lang: g.lang, State: "cross-site", Title: tr(g.lang, "preview.forbidden.title"), Message: tr(g.lang, "preview.crosssite")})
		return
	}
	if err := s.recheckGrant(r.Context(), g); err != nil {
		s.preview.drop(token)
		if apperr.Code(err) == apperr.Internal {
			s.Log.Error("preview access", "err", err)
		}
		s.previewPage(w, http.StatusForbidden, previewPageData{Lang: g.lang, State: "forbidden", Title: tr(g.lang, "preview.forbidden.title"), Message: tr(g.lang, "preview.forbidden")})
		return
	}
	addr, err := s.Sandboxes.Addr(r.Context(), g.key)
	if errors.Is(err, sandbox.ErrNotRunning) {
		s.previewPage(w, http.StatusServiceUnavailable, previewPageData{Lang: g.lang, State: "stopped", Retry: previewRetry, LabURL: g.labURL,
			Title: tr(g.lang, "preview.stopped.title"), Message: tr(g.lang, "preview.stopped")})
		return
	}
	if err != nil {
		s.Log.Error("preview address", "user", g.key.UserID, "lab", g.key.Lab, "err", err)
		s.previewPage(w, http.StatusBadGateway, previewPageData{Lang: g.lang, State: "error", Retry: previewRetry, LabURL: g.labURL,
			Title: tr(g.lang, "preview.error.title"), Message: tr(g.lang, "preview.error")})
		return
	}
	// Someone looking at the page keeps the sandbox from stopping as idle;
	// a page's own background requests (polls, heartbeats) do not, or an
	// open tab would keep a sandbox running for good.
	if personActive(r) {
		s.Sandboxes.Touch(g.key)
	}
	ctx := context.WithValue(r.Context(), previewTargetKey{}, &previewTarget{addr: netip.AddrPortFrom(addr, uint16(h.port)), host: h, g: g})
	s.preview.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// previewLogin trades a one-time code for the preview cookie of this host.
func (s *Server) previewLogin(w http.ResponseWriter, r *http.Request, h previewHost) {
	g := s.preview.takeCode(r.URL.Query().Get("code"))
	if g == nil || g.id != h.id || g.port != h.port {
		// A reload of a used link: a browser already let in goes on.
		if _, had := s.preview.grant(r, h); had != nil {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		lang := langOf(r)
		s.previewPage(w, http.StatusForbidden, previewPageData{Lang: lang, State: "expired", Title: tr(lang, "preview.forbidden.title"), Message: tr(lang, "preview.expired")})
		return
	}
	if old, _ := s.preview.grant(r, h); old != "" {
		s.preview.drop(old)
	}
	path := g.path
	token := s.preview.newGrant(g)
	// Host-only (no Domain), HttpOnly: the sandbox's pages cannot read
	// it, and no other host gets it. No Max-Age: gone with the browser.
	http.SetCookie(w, &http.Cookie{
		Name:     s.previewCookieName(),
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// recheckGrant confirms, every previewRecheck, that the grant's platform
// session is alive and its user may still see the sandbox.
func (s *Server) recheckGrant(ctx context.Context, g *previewGrant) error {
	s.preview.mu.Lock()
	fresh := time.Since(g.checked) < previewRecheck
	s.preview.mu.Unlock()
	if fresh {
		return nil
	}
	u, err := s.Store.UserBySession(ctx, g.session)
	switch {
	case apperr.Code(err) == apperr.Unauthorized || apperr.Code(err) == apperr.NotFound:
		return apperr.Errorf(apperr.Forbidden, "session ended")
	case err != nil:
		return err
	case u.ID != g.user:
		return apperr.Errorf(apperr.Forbidden, "session of another user")
	}
	if ok, err := s.mayPreview(ctx, u, g.key.UserID); err != nil {
		return err
	} else if !ok {
		return apperr.Errorf(apperr.Forbidden, "no access any more")
	}
	s.preview.mu.Lock()
	g.checked = time.Now()
	s.preview.mu.Unlock()
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
func (p *previews) requestAllowed(r *http.Request, h previewHost) bool {
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

// rewritePreview makes the request the sandbox gets: to the sandbox's
// address, with the Host the browser used (apps such as WordPress build
// their URLs from it), X-Forwarded-*, and without the platform's cookies.
func (s *Server) rewritePreview(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(previewTargetKey{}).(*previewTarget)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = t.addr.String()
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Proto", s.scheme(pr.In))
	stripCookies(pr.Out.Header)
}

// stripCookies removes the preview's and the platform's cookies from the
// Cookie headers, keeping the app's own byte for byte.
func stripCookies(h http.Header) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name == "" || isPlatformCookie(name) {
				continue
			}
			kept = append(kept, strings.TrimSpace(part))
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

func isPlatformCookie(name string) bool {
	for _, n := range platformCookieNames {
		if name == n {
			return true
		}
	}
	for _, n := range previewCookieNames {
		if name == n {
			return true
		}
	}
	return false
}

// filterSetCookies keeps the sandbox's app from setting the platform's or
// the preview's cookies, and from setting cookies for a parent domain
// (Domain=): from headers at least, every cookie stays on its preview host.
// (A page's script can still write document.cookie; the platform's
// defences against that are in auth.go and docs/deployment.md.)
func filterSetCookies(resp *http.Response) error {
	lines := resp.Header.Values("Set-Cookie")
	if len(lines) == 0 {
		return nil
	}
	resp.Header.Del("Set-Cookie")
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil || isPlatformCookie(c.Name) || strings.HasPrefix(c.Name, "__Host-handson") {
			continue
		}
		if c.Domain != "" {
			c.Domain = ""
			line = c.String()
		}
		resp.Header.Add("Set-Cookie", line)
	}
	return nil
}

// previewProxyError answers when the sandbox did not: nothing listens on
// the port yet, or the service closed the connection.
func (s *Server) previewProxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser left
	}
	t := r.Context().Value(previewTargetKey{}).(*previewTarget)
	lang := t.g.lang
	d := previewPageData{Lang: lang, Retry: previewRetry, LabURL: t.g.labURL, State: "closed",
		Title: tr(lang, "preview.closed.title", t.host.port), Message: tr(lang, "preview.closed", t.host.port)}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		d.State = "noanswer"
		d.Title = tr(lang, "preview.noanswer.title", t.host.port)
		d.Message = tr(lang, "preview.noanswer")
	}
	s.Log.Info("preview", "user", t.g.key.UserID, "lab", t.g.key.Lab, "port", t.host.port, "err", err)
	s.previewPage(w, http.StatusBadGateway, d)
}
