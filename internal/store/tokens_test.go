package store

import (
	"context"
	"testing"
	"time"

	"handson/internal/apperr"
)

func TestAccessTokens(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	alice, bob := MustUser(t, db, "Alice"), MustUser(t, db, "bob")
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	db.now = func() time.Time { return now }

	tok := &AccessToken{UserID: alice.ID, Name: " laptop "}
	if err := db.CreateAccessToken(ctx, tok, "hst_secret1"); err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 || tok.Name != "laptop" || !tok.CreatedAt.Equal(now) {
		t.Fatalf("created %+v", tok)
	}
	// Any case of the username; only the right secret.
	u, err := db.UserByAccessToken(ctx, "alice", "hst_secret1")
	if err != nil || u.ID != alice.ID {
		t.Fatalf("UserByAccessToken = %v, %v", u, err)
	}
	for _, c := range []struct{ user, secret string }{
		{"alice", "hst_secret2"}, {"bob", "hst_secret1"}, {"nobody", "hst_secret1"}, {"alice", ""},
	} {
		if _, err := db.UserByAccessToken(ctx, c.user, c.secret); apperr.Code(err) != apperr.Unauthorized {
			t.Errorf("UserByAccessToken(%q, %q) = %v, want unauthorized", c.user, c.secret, err)
		}
	}
	list, err := db.AccessTokens(ctx, alice.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsed.Equal(now) || !list[0].Expires.IsZero() {
		t.Fatalf("AccessTokens = %+v, %v", list, err)
	}

	// Expiry: usable before, refused from then on.
	exp := &AccessToken{UserID: alice.ID, Name: "ci", Expires: now.Add(time.Hour)}
	if err := db.CreateAccessToken(ctx, exp, "hst_secret3"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByAccessToken(ctx, "alice", "hst_secret3"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := db.UserByAccessToken(ctx, "alice", "hst_secret3"); apperr.Code(err) != apperr.Unauthorized {
		t.Fatalf("expired token: %v", err)
	}

	// Revoking: only the owner, and then it is gone.
	if err := db.DeleteAccessToken(ctx, bob.ID, tok.ID); apperr.Code(err) != apperr.NotFound {
		t.Fatalf("bob revoking alice's token: %v", err)
	}
	if err := db.DeleteAccessToken(ctx, alice.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByAccessToken(ctx, "alice", "hst_secret1"); apperr.Code(err) != apperr.Unauthorized {
		t.Fatalf("revoked token: %v", err)
	}

	if err := db.CreateAccessToken(ctx, &AccessToken{UserID: bob.ID, Name: "  "}, "x"); apperr.Code(err) != apperr.Invalid {
		t.Fatalf("empty name: %v", err)
	}
	for i := range MaxAccessTokens {
		if err := db.CreateAccessToken(ctx, &AccessToken{UserID: bob.ID, Name: "t"}, "hst_b"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateAccessToken(ctx, &AccessToken{UserID: bob.ID, Name: "one too many"}, "hst_bx"); apperr.Code(err) != apperr.Conflict {
		t.Fatalf("token %d: %v", MaxAccessTokens+1, err)
	}
}
