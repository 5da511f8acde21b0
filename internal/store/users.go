package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"handson/internal/apperr"
)

// Roles a user can have.
const (
	RoleStudent    = "student"
	RoleInstructor = "instructor"
	RoleAdmin      = "admin"
)

// User is an account that can log in.
type User struct {
	ID           int64
	Username     string
	DisplayName  string
	Email        string
	Lang         string // chosen UI language; empty: the browser's
	PasswordHash string
	Role         string
	CreatedAt    time.Time
}

// Name is what the UI calls the user.
func (u *User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

// CreateUser adds a user; the password must already be hashed.
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	u.Username = strings.TrimSpace(u.Username)
	if u.Username == "" {
		return apperr.New(apperr.Invalid, "err.username.required")
	}
	if u.Role == "" {
		u.Role = RoleStudent
	}
	u.CreatedAt = db.now()
	res, err := db.write.ExecContext(ctx,
		`INSERT INTO users (username, display_name, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Username, u.DisplayName, u.Email, u.PasswordHash, u.Role, u.CreatedAt)
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return apperr.New(apperr.Conflict, "err.username.taken", u.Username)
	}
	if err != nil {
		return err
	}
	u.ID, err = res.LastInsertId()
	return err
}

// UserByUsername finds a user by name, case-insensitively.
func (db *DB) UserByUsername(ctx context.Context, username string) (*User, error) {
	return db.scanUser(db.read.QueryRowContext(ctx, userSelect+` WHERE username = ?`, strings.TrimSpace(username)))
}

// UserByID finds a user by id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	return db.scanUser(db.read.QueryRowContext(ctx, userSelect+` WHERE id = ?`, id))
}

// CountUsers returns how many accounts exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

const userSelect = `SELECT id, username, display_name, email, lang, password_hash, role, created_at FROM users`

func (db *DB) scanUser(row *sql.Row) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Lang, &u.PasswordHash, &u.Role, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "err.user.none")
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// SetLang stores a user's UI language ("" follows the browser).
func (db *DB) SetLang(ctx context.Context, userID int64, lang string) error {
	_, err := db.write.ExecContext(ctx, `UPDATE users SET lang = ? WHERE id = ?`, lang, userID)
	return err
}
