package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"handson/internal/apperr"
)

func MustOpen(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), filepath.Join(tb.TempDir(), "test.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func MustUser(tb testing.TB, db *DB, name string) *User {
	tb.Helper()
	u := &User{Username: name, PasswordHash: "x"}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	ctx := context.Background()
	for range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		MustUser(t, db, "u"+time.Now().Format("150405.000000000"))
		db.Close()
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.CountUsers(ctx); n != 2 {
		t.Fatalf("users after reopening = %d, want 2 (data kept, migrations not re-run)", n)
	}
	var mode string
	db.read.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestUsers(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	u := MustUser(t, db, "Alice")
	if u.ID == 0 || u.Role != RoleStudent {
		t.Fatalf("created user = %+v, want an id and the student role", u)
	}
	got, err := db.UserByUsername(ctx, " alice ")
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserByUsername(alice) = %v, %v; want user %d (names are case-insensitive)", got, err, u.ID)
	}
	err = db.CreateUser(ctx, &User{Username: "ALICE", PasswordHash: "x"})
	if apperr.Code(err) != apperr.Conflict {
		t.Errorf("duplicate username: err = %v, want conflict", err)
	}
	if err := db.CreateUser(ctx, &User{Username: "  ", PasswordHash: "x"}); apperr.Code(err) != apperr.Invalid {
		t.Errorf("blank username: err = %v, want invalid", err)
	}
	if err := db.CreateUser(ctx, &User{Username: "eve", PasswordHash: "x", Role: "root"}); err == nil {
		t.Error("unknown role accepted")
	}
	if _, err := db.UserByUsername(ctx, "nobody"); apperr.Code(err) != apperr.NotFound {
		t.Errorf("unknown user: err = %v, want not found", err)
	}
}

func TestSessions(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	u := MustUser(t, db, "bob")
	if err := db.CreateSession(ctx, "tok", u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := db.UserBySession(ctx, "tok")
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserBySession = %v, %v", got, err)
	}
	if _, err := db.UserBySession(ctx, "other"); apperr.Code(err) != apperr.Unauthorized {
		t.Errorf("unknown token: err = %v, want unauthorized", err)
	}
	// The token itself is never stored.
	var n int
	db.read.QueryRow(`SELECT COUNT(*) FROM sessions WHERE token_hash = ?`, "tok").Scan(&n)
	if n != 0 {
		t.Error("token stored in clear")
	}
	if err := db.DeleteSession(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserBySession(ctx, "tok"); apperr.Code(err) != apperr.Unauthorized {
		t.Errorf("after logout: err = %v, want unauthorized", err)
	}

	// Expired sessions do not log anyone in.
	db.now = func() time.Time { return time.Now().UTC().Add(-2 * time.Hour) }
	db.CreateSession(ctx, "old", u.ID, time.Hour)
	db.now = func() time.Time { return time.Now().UTC() }
	if _, err := db.UserBySession(ctx, "old"); apperr.Code(err) != apperr.Unauthorized {
		t.Errorf("expired session: err = %v, want unauthorized", err)
	}
}

func TestProgress(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	u, other := MustUser(t, db, "carol"), MustUser(t, db, "dave")
	for _, a := range []Attempt{
		{UserID: u.ID, LabID: "lab", StepID: "one", Passed: false, ExitCode: 1, Message: "not yet"},
		{UserID: u.ID, LabID: "lab", StepID: "one", Passed: true, Message: ""},
		{UserID: u.ID, LabID: "lab", StepID: "two", Passed: false, ExitCode: 1, Message: "missing"},
		{UserID: other.ID, LabID: "lab", StepID: "two", Passed: true},
		{UserID: u.ID, LabID: "elsewhere", StepID: "two", Passed: true},
	} {
		if err := db.AddAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	p, err := db.Progress(ctx, u.ID, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if got := p["one"]; !got.Passed || got.Attempts != 2 || !got.LastOK {
		t.Errorf("step one = %+v, want passed after 2 attempts", got)
	}
	if got := p["two"]; got.Passed || got.Last != "missing" {
		t.Errorf("step two = %+v, want failed with 'missing' (others' and other labs' attempts ignored)", got)
	}
	as, err := db.Attempts(ctx, u.ID, "lab", "one")
	if err != nil || len(as) != 2 || !as[0].Passed || as[1].Message != "not yet" {
		t.Errorf("Attempts = %+v, %v; want newest first", as, err)
	}
}

func TestInstanceIDIsStable(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	a, err := db.InstanceID(ctx)
	if err != nil || len(a) != 8 {
		t.Fatalf("InstanceID = %q, %v", a, err)
	}
	if b, _ := db.InstanceID(ctx); b != a {
		t.Errorf("second InstanceID = %q, want %q", b, a)
	}
	if c, _ := MustOpen(t).InstanceID(ctx); c == a {
		t.Error("two databases share an instance id")
	}
}

func TestBackup(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	MustUser(t, db, "alice")
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	MustUser(t, db, "bob") // after the backup
	copy, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close()
	if n, _ := copy.CountUsers(ctx); n != 1 {
		t.Errorf("backup has %d users, want 1", n)
	}
	if err := db.Backup(ctx, path); err == nil {
		t.Error("backup over an existing file succeeded")
	}
}
