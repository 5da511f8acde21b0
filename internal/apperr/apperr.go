// Package apperr defines errors that carry a code and a message that is safe
// to show to a user. Only the server maps codes to HTTP statuses.
package apperr

import (
	"errors"
	"fmt"
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

// Error is an error whose Message may be shown to the user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted user-safe message.
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
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
