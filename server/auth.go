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

// authn is who made a request, in its context.
type authn struct {
	user    *store.User
	session string // the session token
}

// sessionCookieNames are the session cookie's names: plain, and with
// SecureCookies "__Host-", which needs Secure, Path=/ and no Domain, so
// that no subdomain can plant it.
var sessionCookieNames = [2]string{"handson", "__Host-handson"}

func (s *Server) cookieName() string {
	if s.SecureCookies {
		return sessionCookieNames[1]
	}
	return sessionCookieNames[0]
}

// authed runs h only for a logged-in user, who is then in the context.
func (s *Server) authed(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, token, err := s.session(r)
		if err != nil {
			return err
		}
		// Into the error adapter's holder when there is one, so that an
		// error is said in this user's language.
		if a, _ := r.Context().Value(ctxKey{}).(*authn); a != nil {
			a.user, a.session = u, token
			return h(w, r)
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &authn{u, token})))
	}
}

// session finds the request's live session. Two things make a cookie not
// enough:
//   - a browser may send several cookies of the session's name, one of
//     them planted for a parent domain by a page of another host (cookie
//     tossing: a web preview on a subdomain of the platform's). Dead ones
//     are skipped; live sessions of two users are refused, never guessed
//     between (the __Host- name of -secure-cookies prevents it outright).
//   - a page of another site, even a same-site one that the browser sends
//     the cookie for (previews under the platform's own domain), has no
//     session here, unless it is a person following a link.
func (s *Server) session(r *http.Request) (*store.User, string, error) {
	if foreignRequest(r) {
		return nil, "", apperr.New(apperr.Unauthorized, "err.login")
	}
	var found *store.User
	var token string
	for _, c := range r.CookiesNamed(s.cookieName()) {
		u, err := s.Store.UserBySession(r.Context(), c.Value)
		switch {
		case apperr.Code(err) == apperr.NotFound || apperr.Code(err) == apperr.Unauthorized:
			continue
		case err != nil:
			return nil, "", err
		case found != nil && found.ID != u.ID:
			s.Log.Warn("two sessions in one request: a cookie planted by another host?", "users", []int64{found.ID, u.ID}, "path", r.URL.Path)
			return nil, "", apperr.New(apperr.Forbidden, "err.twosessions")
		}
		found, token = u, c.Value
	}
	if found == nil {
		return nil, "", apperr.New(apperr.Unauthorized, "err.login")
	}
	return found, token, nil
}

// foreignRequest reports a request that a page of another site made
// (fetch, image, script, form), as opposed to the platform's own pages or
// a person following a link (a GET navigation).
func foreignRequest(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return !(r.Header.Get("Sec-Fetch-Mode") == "navigate" && (r.Method == http.MethodGet || r.Method == http.MethodHead))
}

// optionalUser is the logged-in user of a page that anyone may see, or nil.
func (s *Server) optionalUser(r *http.Request) *store.User {
	if u := userOf(r); u != nil {
		return u
	}
	u, _, err := s.session(r)
	if err != nil {
		return nil
	}
	return u
}

func userOf(r *http.Request) *store.User {
	if a, _ := r.Context().Value(ctxKey{}).(*authn); a != nil {
		return a.user
	}
	return nil
}

// sessionOf is the session token of an authed request.
func sessionOf(r *http.Request) string {
	if a, _ := r.Context().Value(ctxKey{}).(*authn); a != nil {
		return a.session
	}
	return ""
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
	for _, c := range r.CookiesNamed(s.cookieName()) {
		if err := s.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
		if s.preview != nil {
			s.preview.RevokeSession(c.Value)
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
