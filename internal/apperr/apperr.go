// Package apperr defines errors that carry a code and a message that is safe
// to show to a user. Only the server maps codes to HTTP statuses.
package apperr

import (
	"errors"
	"fmt"

	"handson/internal/i18n"
)

// Codes a caller can act on.
const (
	Invalid      = "invalid"
	NotFound     = "not_found"
	Unauthorized = "unauthorized"
	Forbidden    = "forbidden"
	Conflict     = "conflict"
	Unavailable  = "unavailable"
	Internal     = "internal"
)

// Error is an error whose Message may be shown to the user. With a Key,
// Message is the catalog's English text of Key and Args, and Text says it
// in the reader's language.
type Error struct {
	Code    string
	Message string
	Key     string
	Args    []any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an *Error whose message is the catalog's text of key.
func New(code, key string, args ...any) *Error {
	return &Error{Code: code, Key: key, Args: args, Message: i18n.T("en", key, args...)}
}

// Errorf returns an *Error with a formatted user-safe message in English
// only; prefer New for what students and instructors read.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of the first *Error in err's chain, or Internal.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Message returns the user-safe message of err, or a generic one: internal
// details never reach the user.
func Message(err error) string { return Text("en", err) }

// Text is Message in lang.
func Text(lang string, err error) string {
	var e *Error
	switch {
	case !errors.As(err, &e):
		return i18n.T(lang, "error.internal")
	case e.Key != "":
		return i18n.T(lang, e.Key, e.Args...)
	}
	return e.Message
}
