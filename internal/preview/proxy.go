package preview

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"handson/internal/i18n"
	"handson/internal/sandbox"
)

// target travels in the request's context to the proxy's Rewrite.
type target struct {
	addr netip.AddrPort
	host host
	g    *grant
}

type targetKey struct{}

// rewrite makes the request the sandbox gets: to the sandbox's address,
// with the Host the browser used (apps such as WordPress build their URLs
// from it), X-Forwarded-*, and without the platform's cookies.
func (p *Service) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*target)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = t.addr.String()
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Proto", p.scheme(pr.In))
	p.stripCookies(pr.Out.Header)
}

// stripCookies removes the preview's and the platform's cookies from the
// Cookie headers, keeping the app's own byte for byte.
func (p *Service) stripCookies(h http.Header) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name == "" || slices.Contains(p.blocked, name) {
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

// filterSetCookies keeps the sandbox's app from setting the platform's or
// the preview's cookies, and from setting cookies for a parent domain
// (Domain=): from headers at least, every cookie stays on its preview host.
// (A page's script can still write document.cookie; the platform's
// defences against that are in server/auth.go and docs/deployment.md.)
func (p *Service) filterSetCookies(resp *http.Response) error {
	lines := resp.Header.Values("Set-Cookie")
	if len(lines) == 0 {
		return nil
	}
	resp.Header.Del("Set-Cookie")
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil || slices.Contains(p.blocked, c.Name) || strings.HasPrefix(c.Name, "__Host-handson") {
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

// proxyError answers when the sandbox did not: nothing listens on the
// port yet, or the service closed the connection.
func (p *Service) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser left
	}
	t := r.Context().Value(targetKey{}).(*target)
	lang := t.g.lang
	d := pageData{Lang: lang, Retry: retry, LabURL: t.g.backURL, State: "closed",
		Title: i18n.T(lang, "preview.closed.title", t.host.port), Message: i18n.T(lang, "preview.closed", t.host.port)}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		d.State = "noanswer"
		d.Title = i18n.T(lang, "preview.noanswer.title", t.host.port)
		d.Message = i18n.T(lang, "preview.noanswer")
	}
	p.log.Info("preview", "user", t.g.key.UserID, "lab", t.g.key.Lab, "port", t.host.port, "err", err)
	p.showPage(w, http.StatusBadGateway, d)
}

// addrError answers when the platform has no address for the sandbox:
// it is not running, or the engine failed.
func (p *Service) addrError(w http.ResponseWriter, g *grant, err error) {
	if errors.Is(err, sandbox.ErrNotRunning) {
		p.showPage(w, http.StatusServiceUnavailable, pageData{Lang: g.lang, State: "stopped", Retry: retry, LabURL: g.backURL,
			Title: i18n.T(g.lang, "preview.stopped.title"), Message: i18n.T(g.lang, "preview.stopped")})
		return
	}
	p.log.Error("preview address", "user", g.key.UserID, "lab", g.key.Lab, "err", err)
	p.showPage(w, http.StatusBadGateway, pageData{Lang: g.lang, State: "error", Retry: retry, LabURL: g.backURL,
		Title: i18n.T(g.lang, "preview.error.title"), Message: i18n.T(g.lang, "preview.error")})
}
