package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"handson/internal/imageref"
	"handson/internal/store"
)

// fakeRegistry answers what the pages ask of the classroom registry.
type fakeRegistry struct {
	pushed map[string][]imageref.Repository
	err    error
}

func (f *fakeRegistry) Address() string { return "registry.handson:5000" }
func (f *fakeRegistry) Pushed(ctx context.Context, ns string) ([]imageref.Repository, error) {
	return f.pushed[ns], f.err
}

func TestAccessTokens(t *testing.T) {
	e := newEnv(t)
	e.srv.Registry = &fakeRegistry{}
	alice := e.login(t, "alice")
	res, body := get(t, alice, e.url+"/account/tokens")
	if res.StatusCode != 200 || !strings.Contains(body, "No tokens yet.") || !strings.Contains(body, `href="/account/tokens"`) {
		t.Fatalf("tokens page: %d\n%s", res.StatusCode, body)
	}

	// Made: the secret and the exact docker login command, this once.
	res, body = postForm(t, alice, e.url+"/account/tokens", url.Values{"name": {"sandbox"}, "days": {"30"}})
	secret := regexp.MustCompile(`hst_[A-Z2-7]{26}`).FindString(body)
	if res.StatusCode != 200 || secret == "" || !strings.Contains(body, "docker login -u alice registry.handson:5000") {
		t.Fatalf("create: %d\n%s", res.StatusCode, body)
	}
	if u, err := e.db.UserByAccessToken(context.Background(), "alice", secret); err != nil || u.Username != "alice" {
		t.Fatalf("the shown secret does not log in: %v", err)
	}
	_, body = get(t, alice, e.url+"/account/tokens")
	if strings.Contains(body, secret) || !strings.Contains(body, "sandbox") {
		t.Errorf("list: the secret is shown again, or the token is missing\n%s", body)
	}
	toks, _ := e.db.AccessTokens(context.Background(), mustUserID(t, e, "alice"))
	if len(toks) != 1 || toks[0].Expires.IsZero() {
		t.Fatalf("tokens %+v, want one expiring", toks)
	}
	id := itoa(toks[0].ID)

	// Bad input answers on the page.
	if res, body := postForm(t, alice, e.url+"/account/tokens", url.Values{"name": {" "}, "days": {"0"}}); res.StatusCode != 400 || !strings.Contains(body, "needs a name") {
		t.Errorf("empty name: %d", res.StatusCode)
	}
	// Someone else's token cannot be revoked; a cross-site form is refused.
	if res, _ := postForm(t, e.login(t, "bob"), e.url+"/account/tokens/"+id+"/revoke", nil); res.StatusCode != 404 {
		t.Errorf("bob revoking alice's token: %d, want 404", res.StatusCode)
	}
	req, _ := http.NewRequest("POST", e.url+"/account/tokens/"+id+"/revoke", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, err := alice.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site revoke: %v %v, want 403", res.StatusCode, err)
	}
	if res, _ := postForm(t, alice, e.url+"/account/tokens/"+id+"/revoke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if _, err := e.db.UserByAccessToken(context.Background(), "alice", secret); err == nil {
		t.Error("a revoked token still logs in")
	}
	// Logged out: the login page.
	if res, _ := get(t, client(), e.url+"/account/tokens"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous: %d", res.StatusCode)
	}
}

func TestTokensPageJapanese(t *testing.T) {
	e := newEnv(t)
	alice := e.login(t, "alice")
	postForm(t, alice, e.url+"/lang", url.Values{"lang": {"ja"}})
	_, body := get(t, alice, e.url+"/account/tokens")
	for _, want := range []string{"アクセストークン", "トークンを作成", "クラスのレジストリが動いていません"} {
		if !strings.Contains(body, want) {
			t.Errorf("Japanese page lacks %q", want)
		}
	}
}

func TestPushedImagesOnStudentPage(t *testing.T) {
	e, class := classEnv(t)
	fake := &fakeRegistry{pushed: map[string][]imageref.Repository{"alice": {{Name: "alice/web", Tags: []string{"1.0", "latest"}}}}}
	e.srv.Registry = fake
	c := e.login(t, "teacher")
	page := e.url + "/classes/" + itoa(class.ID) + "/members/" + itoa(mustUserID(t, e, "alice"))
	_, body := get(t, c, page)
	if !strings.Contains(body, "registry.handson:5000/alice/web") || !strings.Contains(body, ">latest<") {
		t.Errorf("student page lacks the pushed image\n%s", body)
	}
	fake.err = errors.New("connection refused")
	res, body := get(t, c, page)
	if res.StatusCode != 200 || !strings.Contains(body, "connection refused") {
		t.Errorf("with the registry down: %d", res.StatusCode)
	}
}

func TestChecksAndShellsKnowTheUser(t *testing.T) {
	e := newEnv(t)
	alice := e.login(t, "alice")
	req, _ := http.NewRequest("POST", e.url+"/api/labs/demo/steps/touch/check", nil)
	res, err := alice.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("check: %v %v", res.StatusCode, err)
	}
	cmds := e.fake.Commands
	if len(cmds) == 0 || !slices.Contains(cmds[len(cmds)-1].Env, "HANDSON_USER=alice") {
		t.Errorf("check env: %v", cmds)
	}
	if got := handsonUser(&store.User{Username: "Alice.B"}); got != "HANDSON_USER=alice.b" {
		t.Errorf("handsonUser = %q", got)
	}
}

func mustUserID(t *testing.T, e *env, name string) int64 {
	t.Helper()
	u, err := e.db.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
