package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/imageref"
	"handson/internal/store"
)

// ClassRegistry is the classroom registry as the pages need it.
type ClassRegistry interface {
	// Address is what students type: registry.handson:5000.
	Address() string
	// Pushed lists a namespace's repositories and their tags.
	Pushed(ctx context.Context, namespace string) ([]imageref.Repository, error)
}

// tokenLifetimes are the expiries a student can choose, in days; 0: never.
var tokenLifetimes = []int{30, 7, 90, 365, 0}

type tokensData struct {
	Tokens    []store.AccessToken
	New       string // the secret of the token just made: shown once
	NewName   string
	Registry  string // host:port; "" without a registry
	Namespace string
	BadName   bool // the username cannot be a repository namespace
	Lifetimes []int
	Now       time.Time
	Error     string
}

// tokensPage lists the user's access tokens for `docker login`.
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.tokensData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "tokens", &view{Page: "tokens", Data: d})
}

func (s *Server) tokensData(r *http.Request) (*tokensData, error) {
	u := userOf(r)
	tokens, err := s.Store.AccessTokens(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	ns, ok := imageref.Namespace(u.Username)
	d := &tokensData{Tokens: tokens, Namespace: ns, BadName: !ok, Lifetimes: tokenLifetimes, Now: time.Now()}
	if s.Registry != nil {
		d.Registry = s.Registry.Address()
	}
	return d, nil
}

// createToken makes a token and shows its secret, this once.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	u := userOf(r)
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 0 || days > 366 {
		return apperr.New(apperr.Invalid, "err.token.expiry")
	}
	t := &store.AccessToken{UserID: u.ID, Name: r.PostFormValue("name")}
	if days > 0 {
		t.Expires = time.Now().UTC().AddDate(0, 0, days)
	}
	secret := auth.NewAccessToken()
	createErr := s.Store.CreateAccessToken(r.Context(), t, secret)
	if createErr != nil && apperr.Code(createErr) == apperr.Internal {
		return createErr
	}
	d, err := s.tokensData(r)
	if err != nil {
		return err
	}
	if createErr != nil {
		d.Error = apperr.Message(createErr)
		w.WriteHeader(http.StatusBadRequest)
	} else {
		d.New, d.NewName = secret, t.Name
	}
	return s.render(w, r, "tokens", &view{Page: "tokens", Data: d})
}

// revokeToken deletes one of the user's tokens; docker logins with it stop
// working within the registry token lifetime.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("token"), 10, 64)
	if err != nil {
		return apperr.New(apperr.NotFound, "err.token.none")
	}
	if err := s.Store.DeleteAccessToken(r.Context(), userOf(r).ID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
	return nil
}

// handsonUser is HANDSON_USER in a student's shells and checks: the
// username as a repository namespace (lower case), so that
// $REGISTRY/$HANDSON_USER/app is a valid name and docker login takes it.
func handsonUser(u *store.User) string {
	ns, _ := imageref.Namespace(u.Username)
	return "HANDSON_USER=" + ns
}
