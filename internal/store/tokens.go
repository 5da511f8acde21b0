package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"handson/internal/apperr"
)

// AccessToken is a user's personal access token for `docker login` to the
// classroom registry. Only a hash of its secret is kept.
type AccessToken struct {
	ID        int64
	UserID    int64
	Name      string
	CreatedAt time.Time
	LastUsed  time.Time // zero: never used
	Expires   time.Time // zero: never expires
}

// Expired reports whether the token has run out at now.
func (t *AccessToken) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// MaxAccessTokens is how many tokens one user may have.
const MaxAccessTokens = 20

// touchEvery limits how often a token's last use is written: every docker
// pull asks for a token.
const touchEvery = time.Minute

// CreateAccessToken stores a new token with secret for t.UserID; t gets
// its id and creation time.
func (db *DB) CreateAccessToken(ctx context.Context, t *AccessToken, secret string) error {
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" || utf8.RuneCountInString(t.Name) > 64 {
		return apperr.New(apperr.Invalid, "err.token.name")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM access_tokens WHERE user_id = ?`, t.UserID).Scan(&n); err != nil {
		return err
	}
	if n >= MaxAccessTokens {
		return apperr.New(apperr.Conflict, "err.token.many", n)
	}
	t.CreatedAt = db.now()
	h := sha256.Sum256([]byte(secret))
	res, err := tx.ExecContext(ctx,
		`INSERT INTO access_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		t.UserID, t.Name, h[:], t.CreatedAt, nullTime(t.Expires))
	if err != nil {
		return err
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return tx.Commit()
}

// AccessTokens lists a user's tokens, newest first.
func (db *DB) AccessTokens(ctx context.Context, userID int64) ([]AccessToken, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, user_id, name, created_at, last_used_at, expires_at FROM access_tokens WHERE user_id = ? ORDER BY id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccessToken
	for rows.Next() {
		var t AccessToken
		var used, expires sql.NullTime
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.CreatedAt, &used, &expires); err != nil {
			return nil, err
		}
		t.LastUsed, t.Expires = used.Time, expires.Time
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteAccessToken revokes one of the user's tokens.
func (db *DB) DeleteAccessToken(ctx context.Context, userID, id int64) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM access_tokens WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "err.token.none")
	}
	return nil
}

// UserByAccessToken returns the user named username (in any case) if
// secret is one of their live tokens, and records the use. Wrong names,
// wrong, revoked and expired tokens all answer Unauthorized.
func (db *DB) UserByAccessToken(ctx context.Context, username, secret string) (*User, error) {
	h := sha256.Sum256([]byte(secret))
	var id, userID int64
	var used, expires sql.NullTime
	err := db.read.QueryRowContext(ctx,
		`SELECT t.id, t.user_id, t.last_used_at, t.expires_at FROM access_tokens t JOIN users u ON u.id = t.user_id
		 WHERE t.token_hash = ? AND u.username = ?`, h[:], strings.TrimSpace(username)).Scan(&id, &userID, &used, &expires)
	now := db.now()
	if errors.Is(err, sql.ErrNoRows) || (expires.Valid && !now.Before(expires.Time)) {
		return nil, apperr.New(apperr.Unauthorized, "err.token.wrong")
	}
	if err != nil {
		return nil, err
	}
	if !used.Valid || now.Sub(used.Time) >= touchEvery {
		if _, err := db.write.ExecContext(ctx, `UPDATE access_tokens SET last_used_at = ? WHERE id = ?`, now, id); err != nil {
			return nil, err
		}
	}
	return db.UserByID(ctx, userID)
}

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }
