package server

import (
	"net/http"
	"strconv"
	"time"

	"handson/internal/i18n"
	"handson/internal/sandbox"
)

// tr is the catalog's text for key in lang (templates call it "t").
func tr(lang, key string, args ...any) string { return i18n.T(lang, key, args...) }

// eventText is a sandbox event's message in lang: its code's text when
// there is one, else the English message it carries.
func eventText(lang string, ev sandbox.Event) string {
	key := "sandbox." + ev.Code
	if ev.Code == "" || !i18n.Has(key) {
		return ev.Message
	}
	args := make([]any, len(ev.Args))
	for i, a := range ev.Args {
		args[i] = a
		if n, err := strconv.Atoi(a); err == nil {
			args[i] = n
		} else if d, err := time.ParseDuration(a); err == nil {
			args[i] = d
		}
	}
	return i18n.T(lang, key, args...)
}

// uiLang picks the UI language: the user's choice, then the lang cookie,
// then the browser's languages.
func (s *Server) uiLang(r *http.Request) string {
	if u := userOf(r); u != nil && i18n.Supported(u.Lang) {
		return u.Lang
	}
	if c, err := r.Cookie("lang"); err == nil && i18n.Supported(c.Value) {
		return c.Value
	}
	return i18n.Pick(acceptLanguages(r)...)
}

// acceptLanguages lists the browser's languages, best first, as base tags.
func acceptLanguages(r *http.Request) []string {
	return i18n.AcceptLanguages(r.Header.Get("Accept-Language"))
}

// setLang switches the UI language (and the labs' where a translation
// exists): for the account when logged in, else in a cookie.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if !i18n.Supported(lang) {
		lang = i18n.Langs[0]
	}
	if u := s.optionalUser(r); u != nil {
		if err := s.Store.SetLang(r.Context(), u.ID, lang); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: "lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}
