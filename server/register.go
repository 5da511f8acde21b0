package server

import (
	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/store"
	"net/http"
	"regexp"
	"strings"
)

// registerPage shows the form a student uses with a class's join code.
func (s *Server) registerPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "register", &view{Page: "register", Data: registerForm{Code: r.FormValue("code")}})
}

type registerForm struct {
	Code, Username, DisplayName, Error string
}

// register creates a student account in the class of the join code and
// logs it in.
func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	f := registerForm{
		Code:        strings.TrimSpace(r.PostFormValue("code")),
		Username:    strings.TrimSpace(r.PostFormValue("username")),
		DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
	}
	fail := func(err error) error {
		if code := apperr.Code(err); code == apperr.Internal {
			return err
		}
		f.Error = apperr.Message(err)
		w.WriteHeader(http.StatusBadRequest)
		return s.render(w, r, "register", &view{Page: "register", Data: f})
	}
	// A wrong code costs like a wrong password: codes must not be guessed.
	ip := clientIP(r)
	if s.loginsByIP.blocked(ip) {
		return fail(apperr.New(apperr.Invalid, "login.throttled"))
	}
	class, err := s.Store.ClassByCode(r.Context(), f.Code)
	if err != nil {
		s.loginsByIP.fail(ip)
		if apperr.Code(err) == apperr.NotFound {
			return fail(apperr.New(apperr.Invalid, "err.joincode"))
		}
		return err
	}
	if !validUsername(f.Username) {
		return fail(apperr.New(apperr.Invalid, "err.username"))
	}
	hash, err := auth.HashPassword(r.PostFormValue("password"))
	if err != nil {
		return fail(err)
	}
	u := &store.User{Username: f.Username, DisplayName: f.DisplayName, PasswordHash: hash, Role: store.RoleStudent}
	if err := s.Store.CreateUser(r.Context(), u); err != nil {
		return fail(err)
	}
	if err := s.Store.Join(r.Context(), class.ID, u.ID, store.RoleStudent); err != nil {
		return err
	}
	return s.startSession(w, r, u, "/labs")
}

// usernamePattern is the rule for a new username: 3 to 32 letters, digits,
// '.', '_' or '-'. The register page gives it to the browser as the input's
// pattern attribute, which browsers compile with the RegExp v flag: there a
// '-' in a class must be escaped, or the pattern is invalid and ignored.
// The same text, anchored, is the server's check (RE2 takes the escape too).
const usernamePattern = `[A-Za-z0-9._\-]{3,32}`

var usernameRe = regexp.MustCompile(`^(?:` + usernamePattern + `)$`)

func validUsername(name string) bool { return usernameRe.MatchString(name) }
