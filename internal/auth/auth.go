// Package auth hashes passwords and makes session and access tokens.
package auth

import (
	"crypto/rand"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"handson/internal/apperr"
)

// MinPasswordLength keeps trivially guessable passwords out.
const MinPasswordLength = 8

// HashPassword returns a bcrypt hash of password.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", apperr.New(apperr.Invalid, "err.password.short", MinPasswordLength)
	}
	if len(password) > 72 { // bcrypt ignores the rest; refuse rather than truncate silently
		return "", apperr.New(apperr.Invalid, "err.password.long")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// CheckPassword reports whether password matches hash.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// dummyHash is compared against when a user does not exist, so that a login
// for an unknown user takes as long as one with a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("handson-no-such-user"), bcrypt.DefaultCost)

// CheckNoUser spends the time a password check would take.
func CheckNoUser(password string) {
	_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
}

// NewToken returns a random session token (about 130 bits).
func NewToken() string { return rand.Text() }

// AccessTokenPrefix starts every registry access token, so that a leaked one
// is recognisable (as Docker Hub's "dckr_pat_").
const AccessTokenPrefix = "hst_"

// NewAccessToken returns a random access token for `docker login` (about
// 130 bits after the prefix).
func NewAccessToken() string { return AccessTokenPrefix + rand.Text() }

// NewPassword returns a random password for a new account.
func NewPassword() string { return strings.ToLower(rand.Text()) }
