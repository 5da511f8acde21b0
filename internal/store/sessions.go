package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"handson/internal/apperr"
)

// CreateSession records a login. Only the token's hash is stored.
func (db *DB) CreateSession(ctx context.Context, token string, userID int64, ttl time.Duration) error {
	now := db.now()
	h := sha256.Sum256([]byte(token))
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		h[:], userID, now, now.Add(ttl))
	return err
}

// UserBySession returns the user a live session token belongs to.
func (db *DB) UserBySession(ctx context.Context, token string) (*User, error) {
	h := sha256.Sum256([]byte(token))
	var id int64
	err := db.read.QueryRowContext(ctx,
		`SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?`, h[:], db.now()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Unauthorized, "err.login")
	}
	if err != nil {
		return nil, err
	}
	return db.UserByID(ctx, id)
}

// DeleteSession revokes a session token (logout).
func (db *DB) DeleteSession(ctx context.Context, token string) error {
	h := sha256.Sum256([]byte(token))
	_, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, h[:])
	return err
}
