package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// InstanceID names this installation. Sandboxes carry it in their names and
// labels, so two servers (or a test and a developer's server) sharing one
// Docker host never take or delete each other's sandboxes.
func (db *DB) InstanceID(ctx context.Context) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	// INSERT OR IGNORE keeps the first id ever made; then read whichever won.
	if _, err := db.write.ExecContext(ctx, `INSERT OR IGNORE INTO settings (key, value) VALUES ('instance_id', ?)`, hex.EncodeToString(b)); err != nil {
		return "", err
	}
	var id string
	err := db.write.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'instance_id'`).Scan(&id)
	return id, err
}
