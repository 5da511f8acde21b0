package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"handson/internal/imageref"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// decode splits a JWT and checks its ES256 signature with the
// certificate's key, as the registry does.
func decode(t *testing.T, s *Signer, jwt string) (header map[string]string, c claims) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	h, _ := enc.DecodeString(parts[0])
	p, _ := enc.DecodeString(parts[1])
	sig, _ := enc.DecodeString(parts[2])
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	// aud must be a JSON string, not a list: distribution 2.8 rejects lists.
	var raw map[string]any
	if err := json.Unmarshal(p, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["aud"].(string); !ok {
		t.Fatalf("aud is %T, want a string", raw["aud"])
	}
	if err := json.Unmarshal(p, &c); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(s.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*ecdsa.PublicKey)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the signature does not verify with the certificate's key")
	}
	return header, c
}

func TestSignerToken(t *testing.T) {
	s, err := NewSigner(Issuer, Service)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	jwt, err := s.Sign("alice", []Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decode(t, s, jwt)
	if h["alg"] != "ES256" || h["typ"] != "JWT" || h["kid"] != s.kid {
		t.Errorf("header %v", h)
	}
	if !regexp.MustCompile(`^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$`).MatchString(h["kid"]) {
		t.Errorf("kid %q is not a libtrust key id", h["kid"])
	}
	want := claims{Issuer: Issuer, Subject: "alice", Audience: Service, Expiry: now.Add(5 * time.Minute).Unix(),
		NotBefore: now.Add(-10 * time.Second).Unix(), IssuedAt: now.Unix(), ID: c.ID,
		Access: []Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}}}
	if !reflect.DeepEqual(c, want) || c.ID == "" {
		t.Errorf("claims\n got %+v\nwant %+v", c, want)
	}
	// No grant is an empty list, never null.
	jwt, _ = s.Sign("", nil, time.Minute)
	p, _ := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if !strings.Contains(string(p), `"access":[]`) {
		t.Errorf("payload without grants: %s", p)
	}
}

// TestKeyID checks the libtrust key id against its definition, computed
// another way: base32 of the first 240 bits of SHA-256(DER), 4-character
// groups.
func TestKeyID(t *testing.T) {
	s, _ := NewSigner(Issuer, Service)
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	sum := sha256.Sum256(der)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var bits, want strings.Builder
	for _, b := range sum[:30] {
		for i := 7; i >= 0; i-- {
			bits.WriteByte('0' + (b>>i)&1)
		}
	}
	for i := 0; i < 240; i += 5 {
		n := 0
		for _, c := range bits.String()[i : i+5] {
			n = n*2 + int(c-'0')
		}
		if i > 0 && i%20 == 0 {
			want.WriteByte(':')
		}
		want.WriteByte(alphabet[n])
	}
	if s.kid != want.String() {
		t.Errorf("kid %s, want %s", s.kid, want.String())
	}
}

func TestLoadSignerKeepsTheKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "registry")
	a, err := LoadSigner(dir, Issuer, Service)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadSigner(dir, Issuer, Service)
	if err != nil {
		t.Fatal(err)
	}
	if a.kid != b.kid || string(a.CertPEM()) != string(b.CertPEM()) || a.Secret() != b.Secret() {
		t.Error("a second load made another key")
	}
	if st, _ := os.Stat(filepath.Join(dir, keyFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	// A lost certificate is made again for the same key.
	os.Remove(filepath.Join(dir, certFile))
	c, err := LoadSigner(dir, Issuer, Service)
	if err != nil || c.kid != a.kid {
		t.Fatalf("after losing the certificate: %v", err)
	}
}

func TestNamespace(t *testing.T) {
	for name, want := range map[string]string{"alice": "alice", "Alice.B": "alice.b", "a_b": "a_b", "a--b": "a--b", "s-2026-01": "s-2026-01"} {
		if ns, ok := imageref.Namespace(name); !ok || ns != want {
			t.Errorf("imageref.Namespace(%q) = %q, %v; want %q", name, ns, ok, want)
		}
	}
	for _, name := range []string{"library", "LIBRARY", "-ab", "ab-", "a..b", "a___b", ".ab"} {
		if _, ok := imageref.Namespace(name); ok {
			t.Errorf("imageref.Namespace(%q) ok, want refused", name)
		}
	}
}

func TestPolicy(t *testing.T) {
	alice := &User{Name: "Alice"}
	teacher := &User{Name: "sensei", Teacher: true}
	lib := &User{Name: "library"} // a user who took the name: no push into library/
	both := []string{"pull", "push"}
	cases := []struct {
		who        *User
		typ, name  string
		want, gets []string
	}{
		{alice, "repository", "alice/app", both, both},
		{alice, "repository", "alice/deep/app", both, both},
		{alice, "repository", "alice", both, nil}, // a top-level repository is nobody's namespace
		{alice, "repository", "bob/app", both, nil},
		{alice, "repository", "library/nginx", both, []string{"pull"}},
		{alice, "repository", "alice/app", []string{"pull", "push", "delete", "*"}, both},
		{alice, "repository", "Alice/app", both, nil}, // not a valid name
		{alice, "repository", "alicex/app", both, nil},
		{nil, "repository", "library/nginx", both, []string{"pull"}},
		{nil, "repository", "alice/app", both, nil},
		{teacher, "repository", "alice/app", both, []string{"pull"}},
		{teacher, "repository", "sensei/demo", both, both},
		{teacher, "registry", "catalog", []string{"*"}, nil},
		{alice, "registry", "catalog", []string{"*"}, nil},
		{lib, "repository", "library/nginx", both, []string{"pull"}},
		{alice, "repository", "../alice/x", both, nil},
	}
	for _, c := range cases {
		got := Policy{}.Grant(c.who, c.typ, c.name, c.want)
		if len(got) == 0 && len(c.gets) == 0 {
			if got == nil {
				t.Errorf("Grant(%v, %s %s) = nil, want an empty list", c.who, c.typ, c.name)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.gets) {
			t.Errorf("Grant(%v, %s %s %v) = %v, want %v", c.who, c.typ, c.name, c.want, got, c.gets)
		}
	}
	// Pull-through mode: Docker Hub's other namespaces too, never a student's.
	p := Policy{PullAny: true, IsNamespace: func(ns string) bool { return ns == "alice" }}
	if got := p.Grant(nil, "repository", "bitnami/redis", both); !reflect.DeepEqual(got, []string{"pull"}) {
		t.Errorf("pull-through: %v", got)
	}
	if got := p.Grant(nil, "repository", "alice/app", both); len(got) != 0 {
		t.Errorf("pull-through, a student's namespace: %v", got)
	}
}

func TestParseScope(t *testing.T) {
	typ, name, actions, ok := parseScope("repository:alice/app:push,pull")
	if !ok || typ != "repository" || name != "alice/app" || !reflect.DeepEqual(actions, []string{"push", "pull"}) {
		t.Errorf("got %q %q %q %v", typ, name, actions, ok)
	}
	if _, name, _, ok := parseScope("repository:host:5000/a:pull"); !ok || name != "host:5000/a" {
		t.Errorf("name with a port: %q %v", name, ok)
	}
	for _, bad := range []string{"", "repository", "repository:pull", "repository::pull"} {
		if _, _, _, ok := parseScope(bad); ok {
			t.Errorf("parseScope(%q) ok", bad)
		}
	}
}

func TestTokenServer(t *testing.T) {
	s, _ := NewSigner(Issuer, Service)
	ts := &TokenServer{Signer: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth: func(ctx context.Context, user, token string) (*User, error) {
			if strings.EqualFold(user, "alice") && token == "hst_good" {
				return &User{Name: "alice"}, nil
			}
			return nil, ErrBadCredentials
		}}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	get := func(user, pass string, scopes ...string) (*http.Response, claims) {
		t.Helper()
		q := url.Values{"service": {Service}, "scope": scopes}
		req, _ := http.NewRequest("GET", srv.URL+"/token?"+q.Encode(), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body tokenResponse
		json.NewDecoder(res.Body).Decode(&body)
		if res.StatusCode != 200 {
			return res, claims{}
		}
		if body.Token == "" || body.Token != body.AccessToken || body.ExpiresIn != 300 || body.IssuedAt == "" {
			t.Errorf("response %+v", body)
		}
		_, c := decode(t, s, body.Token)
		return res, c
	}

	// docker login: credentials, no scope.
	res, c := get("alice", "hst_good")
	if res.StatusCode != 200 || c.Subject != "alice" || len(c.Access) != 0 {
		t.Errorf("login: %d %+v", res.StatusCode, c)
	}
	// A push: push+pull on its own repository, pull asked on another to mount
	// a layer gets nothing there.
	_, c = get("Alice", "hst_good", "repository:alice/app:push,pull", "repository:bob/base:pull")
	want := []Access{{"repository", "alice/app", []string{"push", "pull"}}, {"repository", "bob/base", []string{}}}
	if !reflect.DeepEqual(c.Access, want) {
		t.Errorf("push grants %+v", c.Access)
	}
	// Wrong token, wrong user, the account password: 401.
	for _, cred := range [][2]string{{"alice", "hst_bad"}, {"bob", "hst_good"}, {"alice", "alice-password"}} {
		if res, _ := get(cred[0], cred[1], "repository:library/nginx:pull"); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%v: status %d, want 401", cred, res.StatusCode)
		}
	}
	// Anonymous (the mirror): library/ only.
	_, c = get("", "", "repository:library/nginx:pull", "repository:alice/app:pull")
	want = []Access{{"repository", "library/nginx", []string{"pull"}}, {"repository", "alice/app", []string{}}}
	if !reflect.DeepEqual(c.Access, want) || c.Subject != "" {
		t.Errorf("anonymous grants %+v", c.Access)
	}
	// Another service is refused.
	req, _ := http.NewRequest("GET", srv.URL+"/token?service=elsewhere", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("other service: %v %v", res.StatusCode, err)
	}
}

func TestConfigYAML(t *testing.T) {
	c := string(configYAML("http://172.17.0.1:5000/token", "sec", ""))
	for _, want := range []string{"realm: \"http://172.17.0.1:5000/token\"", "service: \"handson-registry\"", "issuer: \"handson\"",
		"rootcertbundle: /etc/docker/registry/token-cert.pem", "rootdirectory: /var/lib/docker-registry", "secret: \"sec\"", "relativeurls: true"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "proxy:") || strings.Contains(c, "htpasswd") {
		t.Errorf("config:\n%s", c)
	}
	if c := string(configYAML("r", "s", "https://registry-1.docker.io")); !strings.Contains(c, "proxy:\n  remoteurl: \"https://registry-1.docker.io\"") {
		t.Errorf("proxy config:\n%s", c)
	}
}

// TestPullThroughRouting: with an upstream, the students' namespaces stay
// in the class registry and everything else goes to the cache.
func TestPullThroughRouting(t *testing.T) {
	r := &Registry{opts: Options{IsNamespace: func(ns string) bool { return ns == "alice" }}}
	for path, cache := range map[string]bool{
		"/v2/":                                false,
		"/v2/_catalog":                        false,
		"/v2/alice/app/manifests/1":           false,
		"/v2/alice/app/blobs/uploads/":        false,
		"/v2/library/nginx/manifests/latest":  true,
		"/v2/library/nginx/blobs/sha256:abcd": true,
		"/v2/bitnami/redis/tags/list":         true,
		"/token":                              false,
	} {
		if got := r.toCache(path); got != cache {
			t.Errorf("toCache(%s) = %v, want %v", path, got, cache)
		}
	}
}
