package store

import (
	"context"
	"regexp"
	"testing"

	"handson/internal/apperr"
)

func TestClasses(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	teacher, alice, bob, other := MustUser(t, db, "teacher"), MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "other")
	c, err := db.CreateClass(ctx, "  Docker 2026  ", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Docker 2026" || !regexp.MustCompile(`^[A-Z2-9]{4}-[A-Z2-9]{4}$`).MatchString(c.JoinCode) {
		t.Errorf("class = %+v", c)
	}
	if _, err := db.CreateClass(ctx, " ", teacher.ID); apperr.Code(err) != apperr.Invalid {
		t.Errorf("nameless class: %v", err)
	}
	// Codes are forgiving about case and the dash.
	for _, code := range []string{c.JoinCode, " " + c.JoinCode[:4] + c.JoinCode[5:] + " "} {
		got, err := db.ClassByCode(ctx, code)
		if err != nil || got.ID != c.ID {
			t.Errorf("ClassByCode(%q) = %v, %v", code, got, err)
		}
	}
	if _, err := db.ClassByCode(ctx, "NOPE-NOPE"); apperr.Code(err) != apperr.NotFound {
		t.Errorf("wrong code: %v", err)
	}
	db.Join(ctx, c.ID, alice.ID, "student")
	db.Join(ctx, c.ID, alice.ID, "student") // twice is fine
	db.Join(ctx, c.ID, bob.ID, "student")
	ms, err := db.Members(ctx, c.ID)
	if err != nil || len(ms) != 3 || ms[0].ClassRole != "instructor" {
		t.Fatalf("members = %+v, %v", ms, err)
	}
	for _, tc := range []struct {
		who  *User
		want bool
	}{{teacher, true}, {alice, false}, {other, false}} {
		if ok, _ := db.Teaches(ctx, tc.who, c.ID); ok != tc.want {
			t.Errorf("Teaches(%s) = %v", tc.who.Username, ok)
		}
		if ok, _ := db.TeachesUser(ctx, tc.who, bob.ID); ok != tc.want {
			t.Errorf("TeachesUser(%s, bob) = %v", tc.who.Username, ok)
		}
	}
	if cs, _ := db.Classes(ctx, other); len(cs) != 0 {
		t.Errorf("other sees classes %v", cs)
	}
	if cs, _ := db.Classes(ctx, alice); len(cs) != 1 {
		t.Errorf("alice sees classes %v", cs)
	}

	db.AddAttempt(ctx, &Attempt{UserID: alice.ID, LabID: "l", StepID: "s", Passed: false, Message: "no"})
	db.AddAttempt(ctx, &Attempt{UserID: alice.ID, LabID: "l", StepID: "s", Passed: true, Message: "ok"})
	db.AddAttempt(ctx, &Attempt{UserID: other.ID, LabID: "l", StepID: "s", Passed: true})
	stats, err := db.ClassProgress(ctx, c.ID)
	if err != nil || len(stats) != 1 {
		t.Fatalf("ClassProgress = %+v, %v; want alice's one step (other is not in the class)", stats, err)
	}
	if s := stats[0]; s.UserID != alice.ID || s.Attempts != 2 || !s.Passed || s.PassedAt.IsZero() || s.FirstAt.IsZero() || s.LastMessage != "ok" {
		t.Errorf("stat = %+v", s)
	}

	// A new password ends the user's sessions.
	db.CreateSession(ctx, "tok", bob.ID, 3600e9)
	if err := db.SetPassword(ctx, bob.ID, "newhash"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserBySession(ctx, "tok"); apperr.Code(err) != apperr.Unauthorized {
		t.Errorf("session survived a password reset: %v", err)
	}
}

func TestClassLabs(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	teacher, alice, loner := MustUser(t, db, "teacher"), MustUser(t, db, "alice"), MustUser(t, db, "loner")
	a, _ := db.CreateClass(ctx, "A", teacher.ID)
	b, _ := db.CreateClass(ctx, "B", teacher.ID)
	db.Join(ctx, a.ID, alice.ID, "student")
	if _, all, _ := db.StudentLabs(ctx, alice.ID); !all {
		t.Error("a class that chose no labs should open every lab")
	}
	db.SetClassLabs(ctx, a.ID, []string{"one", "two"})
	db.SetClassLabs(ctx, b.ID, []string{"three"})
	db.Join(ctx, b.ID, alice.ID, "student")
	labs, all, err := db.StudentLabs(ctx, alice.ID)
	if err != nil || all || len(labs) != 3 {
		t.Errorf("StudentLabs = %v %v %v, want the three labs of her classes", labs, all, err)
	}
	if _, all, _ := db.StudentLabs(ctx, loner.ID); !all {
		t.Error("a user in no class should see every lab")
	}
	db.SetClassLabs(ctx, a.ID, nil)
	if got, _ := db.ClassLabs(ctx, a.ID); len(got) != 0 {
		t.Errorf("ClassLabs after clearing = %v", got)
	}
}
