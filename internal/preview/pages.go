package preview

import (
	"net/http"
	"strconv"

	"handson/internal/i18n"
)

// pageData is what templates/preview.html shows.
type pageData struct {
	Lang, Title, Message, State string
	Retry                       int    // seconds before the page reloads itself; 0: never
	LabURL                      string // back to the platform
}

// showPage answers with the preview's own page (not the platform's
// layout: its links and forms would land on the preview host).
func (p *Service) showPage(w http.ResponseWriter, code int, d pageData) {
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
	if err := p.page.Execute(w, d); err != nil {
		p.log.Error("preview page", "err", err)
	}
}

// langOf picks the language of a preview page without a grant: the
// browser's first supported language.
func langOf(r *http.Request) string {
	return i18n.Pick(i18n.AcceptLanguages(r.Header.Get("Accept-Language"))...)
}
