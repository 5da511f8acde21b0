package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// Secret returns this installation's 32-byte secret for name, made at the
// first call and kept in settings, so what is derived from it (the web
// preview's host names) stays the same across restarts.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	b := make([]byte, 32)
	rand.Read(b)
	key := "secret:" + name
	// INSERT OR IGNORE keeps the first secret ever made; then read whichever won.
	if _, err := db.write.ExecContext(ctx, `INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)`, key, hex.EncodeToString(b)); err != nil {
		return nil, err
	}
	var v string
	if err := db.write.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return nil, err
	}
	s, err := hex.DecodeString(v)
	if err != nil || len(s) != 32 {
		return nil, fmt.Errorf("setting %s is not a 32-byte hex secret", key)
	}
	return s, nil
}
