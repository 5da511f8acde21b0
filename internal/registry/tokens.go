package registry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// ErrBadCredentials is what an Authenticator answers for a wrong username
// or access token.
var ErrBadCredentials = errors.New("wrong username or access token")

// Authenticator checks what `docker login` sends: a platform username and
// one of that user's access tokens (never the account password).
type Authenticator func(ctx context.Context, username, token string) (*User, error)

// TokenTTL is how long a registry token lives. Docker asks again when it
// runs out; a revoked access token stops working within this time.
const TokenTTL = 5 * time.Minute

// TokenServer answers the registry's token requests (the "realm" in the
// registry's WWW-Authenticate): GET /token?service=…&scope=…, with HTTP
// basic credentials or none (anonymous).
type TokenServer struct {
	Signer *Signer
	Auth   Authenticator
	Policy Policy
	Log    *slog.Logger
}

// tokenResponse is what docker expects; token and access_token carry the
// same JWT for old and new clients.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

func (t *TokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// Docker uses POST (OAuth2) only after a token response carried a
		// refresh_token, which this server never sends.
		w.Header().Set("Allow", "GET")
		tokenError(w, http.StatusMethodNotAllowed, "unsupported", "use GET")
		return
	}
	q := r.URL.Query()
	if svc := q.Get("service"); svc != "" && svc != t.Signer.Service {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unknown service "+svc)
		return
	}
	var u *User
	if name, secret, ok := r.BasicAuth(); ok {
		var err error
		u, err = t.Auth(r.Context(), name, secret)
		if err != nil {
			if !errors.Is(err, ErrBadCredentials) {
				t.Log.Error("registry token: checking credentials", "user", name, "err", err)
				tokenError(w, http.StatusInternalServerError, "server_error", "could not check the credentials")
				return
			}
			t.Log.Info("registry token: bad credentials", "user", name, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="handson registry"`)
			tokenError(w, http.StatusUnauthorized, "unauthorized", "wrong username or access token: log in with your platform username and an access token from the platform's Access tokens page")
			return
		}
	}
	// One grant per requested scope; what is not allowed gets no actions
	// (the registry then says "denied"), never a 401: a push asks for pull
	// on other repositories too, to mount their layers.
	var access []Access
	for _, scope := range q["scope"] {
		typ, name, want, ok := parseScope(scope)
		if !ok {
			continue
		}
		access = append(access, Access{Type: typ, Name: name, Actions: t.Policy.Grant(u, typ, name, want)})
	}
	subject := ""
	if u != nil {
		subject = u.Name
	}
	now := t.Signer.now()
	jwt, err := t.Signer.Sign(subject, access, TokenTTL)
	if err != nil {
		t.Log.Error("registry token: signing", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "could not sign a token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(tokenResponse{
		Token: jwt, AccessToken: jwt, ExpiresIn: int(TokenTTL.Seconds()), IssuedAt: now.UTC().Format(time.RFC3339),
	})
}

func tokenError(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{
		"error": kind, "error_description": msg,
		// The registry API's error shape too: docker shows its message.
		"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": msg}},
	})
}
