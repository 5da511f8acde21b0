package store

import (
	"context"
	"strings"
	"time"
)

// Attempt is one run of a step's check for a user.
type Attempt struct {
	ID       int64
	UserID   int64
	LabID    string
	StepID   string
	Passed   bool
	ExitCode int
	Message  string
	Output   string
	Duration time.Duration
	At       time.Time
	// Recordings are the terminal recordings running when the check ran,
	// relative to the recording directory.
	Recordings []string
}

// StepProgress is where a user stands on one step.
type StepProgress struct {
	Passed   bool   // some attempt passed
	Attempts int    // how many checks were run
	Last     string // message of the latest attempt
	LastOK   bool   // whether the latest attempt passed
}

// AddAttempt records a check run.
func (db *DB) AddAttempt(ctx context.Context, a *Attempt) error {
	a.At = db.now()
	res, err := db.write.ExecContext(ctx,
		`INSERT INTO attempts (user_id, lab_id, step_id, passed, exit_code, message, output, duration_ms, created_at, recordings)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.UserID, a.LabID, a.StepID, a.Passed, a.ExitCode, a.Message, a.Output, a.Duration.Milliseconds(), a.At, strings.Join(a.Recordings, "\n"))
	if err != nil {
		return err
	}
	a.ID, err = res.LastInsertId()
	return err
}

// Progress returns, per step id, a user's standing in a lab.
func (db *DB) Progress(ctx context.Context, userID int64, labID string) (map[string]StepProgress, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT step_id, passed, message FROM attempts WHERE user_id = ? AND lab_id = ? ORDER BY id`,
		userID, labID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	progress := map[string]StepProgress{}
	for rows.Next() {
		var step, msg string
		var passed bool
		if err := rows.Scan(&step, &passed, &msg); err != nil {
			return nil, err
		}
		p := progress[step]
		p.Attempts++
		p.Passed = p.Passed || passed
		p.Last, p.LastOK = msg, passed
		progress[step] = p
	}
	return progress, rows.Err()
}

// Attempts lists a user's attempts at one step, newest first.
func (db *DB) Attempts(ctx context.Context, userID int64, labID, stepID string) ([]Attempt, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, passed, exit_code, message, output, duration_ms, created_at FROM attempts
		 WHERE user_id = ? AND lab_id = ? AND step_id = ? ORDER BY id DESC`,
		userID, labID, stepID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{UserID: userID, LabID: labID, StepID: stepID}
		var ms int64
		if err := rows.Scan(&a.ID, &a.Passed, &a.ExitCode, &a.Message, &a.Output, &ms, &a.At); err != nil {
			return nil, err
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// UserAttempts lists a user's attempts, newest first, at most limit.
func (db *DB) UserAttempts(ctx context.Context, userID int64, limit int) ([]Attempt, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, lab_id, step_id, passed, exit_code, message, output, duration_ms, created_at, recordings FROM attempts
		 WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{UserID: userID}
		var ms int64
		var recs string
		if err := rows.Scan(&a.ID, &a.LabID, &a.StepID, &a.Passed, &a.ExitCode, &a.Message, &a.Output, &ms, &a.At, &recs); err != nil {
			return nil, err
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		if recs != "" {
			a.Recordings = strings.Split(recs, "\n")
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
