package store

import (
	"context"
	"time"

	"handson/internal/sandbox"
)

var _ sandbox.Records = (*DB)(nil)

// SaveSandbox records a sandbox's state; creation time is kept from the
// first save.
func (db *DB) SaveSandbox(ctx context.Context, r sandbox.Record) error {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO sandboxes (user_id, lab_id, state, created_at, last_active) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (user_id, lab_id) DO UPDATE SET state = excluded.state, last_active = excluded.last_active`,
		r.Key.UserID, r.Key.Lab, string(r.State), r.Created.UTC(), r.LastActive.UTC())
	return err
}

// Sandboxes lists every recorded sandbox.
func (db *DB) Sandboxes(ctx context.Context) ([]sandbox.Record, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT user_id, lab_id, state, created_at, last_active FROM sandboxes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sandbox.Record
	for rows.Next() {
		var r sandbox.Record
		var state string
		if err := rows.Scan(&r.Key.UserID, &r.Key.Lab, &state, &r.Created, &r.LastActive); err != nil {
			return nil, err
		}
		r.State = sandbox.State(state)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteSandbox forgets a removed sandbox.
func (db *DB) DeleteSandbox(ctx context.Context, key sandbox.Key) error {
	_, err := db.write.ExecContext(ctx, `DELETE FROM sandboxes WHERE user_id = ? AND lab_id = ?`, key.UserID, key.Lab)
	return err
}

// TouchSandboxes stores activity times, in one transaction: keystrokes are
// gathered in memory and written in batches, not one write per key.
func (db *DB) TouchSandboxes(ctx context.Context, active map[sandbox.Key]time.Time) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k, t := range active {
		if _, err := tx.ExecContext(ctx, `UPDATE sandboxes SET last_active = max(last_active, ?) WHERE user_id = ? AND lab_id = ?`, t.UTC(), k.UserID, k.Lab); err != nil {
			return err
		}
	}
	return tx.Commit()
}
