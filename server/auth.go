package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/store"
)

type ctxKey struct{}

func (s *Server) cookieName() string {
	if s.SecureCookies {
		return "__Host-handson" // needs Secure, Path=/ and no Domain: no subdomain can plant it
	}
	return "handson"
}

// authed runs h only for a logged-in user, who is then in the context.
func (s *Server) authed(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := r.Cookie(s.cookieName())
		if err != nil {
			return apperr.Errorf(apperr.Unauthorized, "Please log in.")
		}
		u, err := s.Store.UserBySession(r.Context(), c.Value)
		if err != nil {
			if apperr.Code(err) == apperr.NotFound {
				return apperr.Errorf(apperr.Unauthorized, "Please log in.")
			}
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)))
	}
}

// optionalUser is the logged-in user of a page that anyone may see, or nil.
func (s *Server) optionalUser(r *http.Request) *store.User {
	if u := userOf(r); u != nil {
		return u
	}
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return nil
	}
	u, err := s.Store.UserBySession(r.Context(), c.Value)
	if err != nil {
		return nil
	}
	return u
}

func userOf(r *http.Request) *store.User {
	u, _ := r.Context().Value(ctxKey{}).(*store.User)
	return u
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "login", &view{Page: "login", Next: safeNext(r.FormValue("next"))})
}

// login answers unknown users and wrong passwords alike, in the same time,
// and slows guessing down the same way for both.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	name, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	ip, user := clientIP(r), strings.ToLower(strings.TrimSpace(name))
	if s.loginsByIP.blocked(ip) || s.loginsByUser.blocked(user) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
		return s.render(w, r, "login", &view{Page: "login", Error: tr(s.uiLang(r), "login.throttled"), Username: name, Next: next})
	}
	u, err := s.Store.UserByUsername(r.Context(), name)
	switch {
	case apperr.Code(err) == apperr.NotFound:
		auth.CheckNoUser(password)
	case err != nil:
		return err
	case auth.CheckPassword(u.PasswordHash, password):
		return s.startSession(w, r, u, next)
	}
	s.loginsByIP.fail(ip)
	s.loginsByUser.fail(user)
	w.WriteHeader(http.StatusUnauthorized)
	return s.render(w, r, "login", &view{Page: "login", Error: tr(s.uiLang(r), "login.wrong"), Username: name, Next: next})
}

// startSession issues a new session id at every login.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, next string) error {
	token := auth.NewToken()
	if err := s.Store.CreateSession(r.Context(), token, u.ID, s.SessionTTL); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    token,
		Path:     "/",
		MaxAge:   int(s.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// logout revokes the session on the server, not only in the browser.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		if err := s.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

// sameOrigin is the websocket Origin check: browsers always send Origin on
// an upgrade, and it must name this host, or any site could drive a
// student's terminal with the student's cookie.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}
