package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"

	"handson/internal/apperr"
)

// handler is an HTTP handler that returns its error for one place to answer.
type handler func(w http.ResponseWriter, r *http.Request) error

var statuses = map[string]int{
	apperr.Invalid:      http.StatusBadRequest,
	apperr.NotFound:     http.StatusNotFound,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.Conflict:     http.StatusConflict,
	apperr.Unavailable:  http.StatusServiceUnavailable,
	apperr.Internal:     http.StatusInternalServerError,
}

func status(err error) int { return statuses[apperr.Code(err)] }

func (s *Server) logError(r *http.Request, err error) {
	s.Log.Log(r.Context(), logLevel(err), "request", "method", r.Method, "path", r.URL.Path, "status", status(err), "err", err)
}

// logLevel is Error for what the server got wrong (5xx), Info for the rest.
func logLevel(err error) slog.Level {
	if status(err) >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// withAuthn gives the request an empty holder that authed fills: the
// adapters below then know the user, and their language, after h.
func withAuthn(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, &authn{}))
}

// page answers errors with an HTML page; a missing login goes to the login form.
func (s *Server) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withAuthn(r)
		err := h(w, r)
		if err == nil {
			return
		}
		s.logError(r, err)
		code := status(err)
		if code == http.StatusUnauthorized {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.WriteHeader(code)
		s.render(w, r, "error", &view{Page: "error", Status: http.StatusText(code), Message: errText(s.uiLang(r), err)})
	})
}

// api answers errors with JSON {"error": message}.
func (s *Server) api(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withAuthn(r)
		err := h(w, r)
		if err == nil {
			return
		}
		s.logError(r, err)
		writeJSON(w, status(err), map[string]string{"error": errText(s.uiLang(r), err)})
	})
}

// errText is the message a user may read about err, in lang.
func errText(lang string, err error) string { return apperr.Text(lang, err) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
