package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strings"
	"time"

	"handson/internal/apperr"
	"handson/internal/progress"
)

// Class is a group of students and its instructors.
type Class struct {
	ID        int64
	Name      string
	JoinCode  string
	Record    bool // its students' terminals are recorded
	CreatedAt time.Time
}

// Member is a user in a class.
type Member struct {
	User
	ClassRole string // student or instructor
}

// newJoinCode makes a code a student can type: 8 letters and digits
// without look-alikes, grouped as XXXX-XXXX.
func newJoinCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // 32: no bias below
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// CreateClass makes a class with a fresh join code; its creator teaches it.
func (db *DB) CreateClass(ctx context.Context, name string, instructorID int64) (*Class, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, apperr.New(apperr.Invalid, "err.class.name")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c := &Class{Name: name, JoinCode: newJoinCode(), CreatedAt: db.now()}
	res, err := tx.ExecContext(ctx, `INSERT INTO classes (name, join_code, created_at) VALUES (?, ?, ?)`, c.Name, c.JoinCode, c.CreatedAt)
	if err != nil {
		return nil, err
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO class_members (class_id, user_id, role) VALUES (?, ?, 'instructor')`, c.ID, instructorID); err != nil {
		return nil, err
	}
	return c, tx.Commit()
}

// ClassByCode finds a class by its join code, case-insensitively.
func (db *DB) ClassByCode(ctx context.Context, code string) (*Class, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) == 8 {
		code = code[:4] + "-" + code[4:]
	}
	return db.scanClass(db.read.QueryRowContext(ctx, classSelect+` WHERE join_code = ?`, code))
}

// ClassByID finds a class.
func (db *DB) ClassByID(ctx context.Context, id int64) (*Class, error) {
	return db.scanClass(db.read.QueryRowContext(ctx, classSelect+` WHERE id = ?`, id))
}

const classSelect = `SELECT id, name, join_code, record, created_at FROM classes`

func (db *DB) scanClass(row *sql.Row) (*Class, error) {
	var c Class
	err := row.Scan(&c.ID, &c.Name, &c.JoinCode, &c.Record, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "err.class.none")
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Classes lists the classes a user belongs to (all classes for admins),
// with the user's role in each.
func (db *DB) Classes(ctx context.Context, u *User) ([]Class, error) {
	q := classSelect + ` WHERE id IN (SELECT class_id FROM class_members WHERE user_id = ?) ORDER BY created_at DESC`
	args := []any{u.ID}
	if u.Role == RoleAdmin {
		q, args = classSelect+` ORDER BY created_at DESC`, nil
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Class
	for rows.Next() {
		var c Class
		if err := rows.Scan(&c.ID, &c.Name, &c.JoinCode, &c.Record, &c.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Join adds a user to a class with a role; joining twice changes nothing.
func (db *DB) Join(ctx context.Context, classID, userID int64, role string) error {
	_, err := db.write.ExecContext(ctx, `INSERT OR IGNORE INTO class_members (class_id, user_id, role) VALUES (?, ?, ?)`, classID, userID, role)
	return err
}

// Members lists a class's users, instructors first, then by name.
func (db *DB) Members(ctx context.Context, classID int64) ([]Member, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT u.id, u.username, u.display_name, u.email, u.lang, u.password_hash, u.role, u.created_at, m.role
		 FROM class_members m JOIN users u ON u.id = m.user_id
		 WHERE m.class_id = ? ORDER BY m.role = 'student', u.username`, classID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.ID, &m.Username, &m.DisplayName, &m.Email, &m.Lang, &m.PasswordHash, &m.Role, &m.CreatedAt, &m.ClassRole); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Teaches reports whether user may manage class: an admin, or one of the
// class's instructors.
func (db *DB) Teaches(ctx context.Context, u *User, classID int64) (bool, error) {
	if u.Role == RoleAdmin {
		return true, nil
	}
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM class_members WHERE class_id = ? AND user_id = ? AND role = 'instructor'`, classID, u.ID).Scan(&n)
	return n > 0, err
}

// TeachesUser reports whether u may see student's work: an admin, or an
// instructor of a class the student is in.
func (db *DB) TeachesUser(ctx context.Context, u *User, studentID int64) (bool, error) {
	if u.Role == RoleAdmin {
		return true, nil
	}
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM class_members t JOIN class_members s ON s.class_id = t.class_id
		 WHERE t.user_id = ? AND t.role = 'instructor' AND s.user_id = ?`, u.ID, studentID).Scan(&n)
	return n > 0, err
}

// SetPassword replaces a user's password hash and ends their sessions.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return err
	}
	return tx.Commit()
}

// ClassProgress returns every step record of the class's students.
func (db *DB) ClassProgress(ctx context.Context, classID int64) ([]progress.StepStat, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT a.user_id, a.lab_id, a.step_id, COUNT(*), MAX(a.passed), MIN(a.created_at),
		        MIN(CASE WHEN a.passed THEN a.created_at END),
		        (SELECT message FROM attempts l WHERE l.user_id = a.user_id AND l.lab_id = a.lab_id AND l.step_id = a.step_id ORDER BY l.id DESC LIMIT 1)
		 FROM attempts a JOIN class_members m ON m.user_id = a.user_id AND m.class_id = ? AND m.role = 'student'
		 GROUP BY a.user_id, a.lab_id, a.step_id`, classID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []progress.StepStat
	for rows.Next() {
		var s progress.StepStat
		var first string
		var passedAt sql.NullString
		if err := rows.Scan(&s.UserID, &s.LabID, &s.StepID, &s.Attempts, &s.Passed, &first, &passedAt, &s.LastMessage); err != nil {
			return nil, err
		}
		s.FirstAt = parseTime(first)
		if passedAt.Valid {
			s.PassedAt = parseTime(passedAt.String)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// parseTime reads a time the driver wrote; aggregates come back as text.
func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// StudentClasses lists the ids of the classes a user is a student of.
func (db *DB) StudentClasses(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT class_id FROM class_members WHERE user_id = ? AND role = 'student'`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// FailureCount is how often a check failed with one message.
type FailureCount struct {
	StepID, Message string
	Count           int
}

// CommonFailures lists a lab's most frequent failure messages among a
// class's students, most frequent first.
func (db *DB) CommonFailures(ctx context.Context, classID int64, labID string, limit int) ([]FailureCount, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT a.step_id, a.message, COUNT(*) AS n
		 FROM attempts a JOIN class_members m ON m.user_id = a.user_id AND m.class_id = ? AND m.role = 'student'
		 WHERE a.lab_id = ? AND NOT a.passed
		 GROUP BY a.step_id, a.message ORDER BY n DESC, a.step_id LIMIT ?`, classID, labID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FailureCount
	for rows.Next() {
		var f FailureCount
		if err := rows.Scan(&f.StepID, &f.Message, &f.Count); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// ClassLabs lists the labs chosen for a class; empty means every lab.
func (db *DB) ClassLabs(ctx context.Context, classID int64) ([]string, error) {
	return db.strings(ctx, `SELECT lab_id FROM class_labs WHERE class_id = ? ORDER BY lab_id`, classID)
}

// SetClassLabs replaces the labs chosen for a class.
func (db *DB) SetClassLabs(ctx context.Context, classID int64, labs []string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM class_labs WHERE class_id = ?`, classID); err != nil {
		return err
	}
	for _, l := range labs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO class_labs (class_id, lab_id) VALUES (?, ?)`, classID, l); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// StudentLabs returns the labs a user's classes work on, and all=true when
// every lab is open to them (no class, or a class that chose none).
func (db *DB) StudentLabs(ctx context.Context, userID int64) (labs map[string]bool, all bool, err error) {
	classes, err := db.StudentClasses(ctx, userID)
	if err != nil || len(classes) == 0 {
		return nil, true, err
	}
	labs = map[string]bool{}
	for _, c := range classes {
		ids, err := db.ClassLabs(ctx, c)
		if err != nil {
			return nil, false, err
		}
		if len(ids) == 0 {
			return nil, true, nil
		}
		for _, id := range ids {
			labs[id] = true
		}
	}
	return labs, false, nil
}

func (db *DB) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetRecord turns terminal recording on or off for a class's students.
func (db *DB) SetRecord(ctx context.Context, classID int64, on bool) error {
	_, err := db.write.ExecContext(ctx, `UPDATE classes SET record = ? WHERE id = ?`, on, classID)
	return err
}

// Recorded reports whether any class a user studies in records terminals.
func (db *DB) Recorded(ctx context.Context, userID int64) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM class_members m JOIN classes c ON c.id = m.class_id
		 WHERE m.user_id = ? AND m.role = 'student' AND c.record`, userID).Scan(&n)
	return n > 0, err
}
