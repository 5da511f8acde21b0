package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/imageref"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/testenv"
)

// testLog shows the registry's log in the test's output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// classroom is a registry with a store of users, as handson serve runs it,
// on an address of its own.
type classroom struct {
	reg *Registry
	db  *store.DB
}

func startClassroom(t *testing.T, instance string, options ...func(*Options)) *classroom {
	t.Helper()
	testenv.RequireImage(t, testenv.RegistryImage)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "handson.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	addr, remove, err := PrivateAddr(ctx, "handson-"+instance+"-registry", config.Default().RegistryPort())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove(context.Background()) })
	opts := Options{
		Instance: instance, Addr: addr, KeyDir: t.TempDir(), Log: testLog(t),
		IsNamespace: func(ns string) bool {
			_, err := db.UserByUsername(context.Background(), ns)
			return apperr.Code(err) != apperr.NotFound
		},
		Auth: func(ctx context.Context, username, token string) (*User, error) {
			u, err := db.UserByAccessToken(ctx, username, token)
			if apperr.Code(err) == apperr.Unauthorized {
				return nil, ErrBadCredentials
			}
			if err != nil {
				return nil, err
			}
			return &User{Name: u.Username, Teacher: u.Role != store.RoleStudent}, nil
		},
	}
	for _, o := range options {
		o(&opts)
	}
	reg, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return &classroom{reg: reg, db: db}
}

// user makes an account with a password and an access token.
func (c *classroom) user(t *testing.T, name, role string) (password, token string) {
	t.Helper()
	ctx := context.Background()
	password = "pw-" + name + "-secret"
	hash, _ := auth.HashPassword(password)
	u := &store.User{Username: name, PasswordHash: hash, Role: role}
	if err := c.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	token = auth.NewAccessToken()
	if err := c.db.CreateAccessToken(ctx, &store.AccessToken{UserID: u.ID, Name: "test"}, token); err != nil {
		t.Fatal(err)
	}
	// What the test pushed leaves the machine's registry volume with it.
	t.Cleanup(func() {
		if err := c.reg.Forget(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return password, token
}

// seed pushes the host's image into the registry as repo:tag through the
// registry API, with a token the platform makes for itself: the way a test
// puts something into library/ (students cannot). It returns when the
// registry has it; the test removes the repository afterwards.
func (c *classroom) seed(t *testing.T, image, repo string) {
	t.Helper()
	seedAt(t, c.reg.main.current(), c.reg.signer, image, repo)
	t.Cleanup(func() {
		if err := c.reg.forget(context.Background(), repo); err != nil {
			t.Error(err)
		}
	})
}

// seedAt pushes the host's image to the registry at addr (host:port) as
// repo:latest, with a token of signer.
func seedAt(t *testing.T, addr string, signer *Signer, image, repo string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	rc, err := cli.ImageSave(ctx, []string{image})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
	rc.Close()
	var saved []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &saved); err != nil || len(saved) != 1 {
		t.Fatalf("docker save manifest: %v", err)
	}
	tok, err := signer.Sign("handson-test", []Access{{Type: "repository", Name: repo, Actions: []string{"pull", "push"}}}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr + "/v2/" + repo
	do := func(method, url, ctype string, body []byte, want int) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != want {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("%s %s: %s %s", method, url, res.Status, b)
		}
		return res
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Size      int    `json:"size"`
		Digest    string `json:"digest"`
	}
	upload := func(blob []byte, mediaType string) descriptor {
		sum := sha256.Sum256(blob)
		d := descriptor{MediaType: mediaType, Size: len(blob), Digest: "sha256:" + hex.EncodeToString(sum[:])}
		loc := do("POST", base+"/blobs/uploads/", "", nil, http.StatusAccepted).Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = "http://" + addr + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		do("PUT", loc+sep+"digest="+d.Digest, "application/octet-stream", blob, http.StatusCreated)
		return d
	}
	m := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: "application/vnd.docker.distribution.manifest.v2+json"}
	m.Config = upload(files[saved[0].Config], "application/vnd.docker.container.image.v1+json")
	for _, l := range saved[0].Layers {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(files[l])
		w.Close()
		m.Layers = append(m.Layers, upload(gz.Bytes(), "application/vnd.docker.image.rootfs.diff.tar.gzip"))
	}
	body, _ := json.Marshal(m)
	do("PUT", base+"/manifests/latest", m.MediaType, body, http.StatusCreated)
}

// sandboxFor starts a real sandbox whose engine gives it the registry.
func sandboxFor(t *testing.T, c *classroom, instance string) (*docker.Engine, *sandbox.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := docker.New(ctx, instance, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	// The rules handson serve installs: the registry's port is the one
	// host port open to sandboxes.
	if err := firewall.Ensure(ctx, docker.Firewall(config.Default().RegistryPort())); err != nil {
		t.Fatal(err)
	}
	e.SandboxHosts, e.SandboxEnv = c.reg.SandboxHosts(), c.reg.SandboxEnv()
	key := sandbox.Key{UserID: 1, Lab: "registry"}
	sb, err := e.Ensure(ctx, key, sandbox.Spec{Image: testenv.SandboxImage, Limits: sandbox.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512, OpenFiles: 8192}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e.Remove(ctx, key)
	})
	if err := e.WaitReady(ctx, sb); err != nil {
		t.Fatal(err)
	}
	return e, sb
}

// run runs script as the student in a login shell and logs what it printed.
func run(t *testing.T, e *docker.Engine, sb *sandbox.Sandbox, script string, env ...string) *sandbox.Result {
	t.Helper()
	res, err := e.Exec(context.Background(), sb, sandbox.Command{Cmd: []string{"bash", "-lc", script}, Env: env, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ %s\n%s(exit %d, %.2fs)", strings.TrimSpace(script), res.Output, res.ExitCode, res.Duration.Seconds())
	return res
}

func randomID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var resultRe = regexp.MustCompile(`(?m)^RESULT (\S+) (\d+)$`)

// results reads "RESULT name code" lines.
func results(out []byte) map[string]int {
	m := map[string]int{}
	for _, r := range resultRe.FindAllStringSubmatch(string(out), -1) {
		m[r[1]], _ = strconv.Atoi(r[2])
	}
	return m
}

// expectResults checks each named try of a script's output: true must
// succeed, false must fail (an attack), and every one must have run.
func expectResults(t *testing.T, out []byte, want map[string]bool) {
	t.Helper()
	got := results(out)
	for name, ok := range want {
		code, ran := got[name]
		switch {
		case !ran:
			t.Errorf("%s did not run", name)
		case ok && code != 0:
			t.Errorf("%s failed (exit %d), want success", name, code)
		case !ok && code == 0:
			t.Errorf("ATTACK SUCCEEDED: %s exited 0", name)
		}
	}
}

// TestClassroomRegistry runs the registry, a real sandbox, and what a
// class does with them: pulls through the mirror with no internet, a
// student's docker login with an access token, pushes to their own
// namespace, and every way to get around it, which must fail.
func TestClassroomRegistry(t *testing.T) {
	testenv.RequireDocker(t)
	id := randomID()
	instance := "regtest-" + id
	c := startClassroom(t, instance)
	alicePassword, aliceToken := c.user(t, "alice-"+id, store.RoleStudent)
	c.user(t, "bob-"+id, store.RoleStudent)
	_, teacherToken := c.user(t, "sensei-"+id, store.RoleInstructor)
	alice, bob := "alice-"+id, "bob-"+id

	// Something in library/ that no sandbox has: the mirror is the only
	// way to get it.
	mirrored := "regtest-" + id
	c.seed(t, "handson/busybox:latest", imageref.Library+"/"+mirrored)
	if st := c.reg.Status(); !st.Ready {
		t.Fatalf("registry not ready: %+v", st)
	}

	e, sb := sandboxFor(t, c, instance)
	env := []string{"ALICE=" + alice, "BOB=" + bob, "TOKEN=" + aliceToken, "PASSWORD=" + alicePassword, "TEACHER_TOKEN=" + teacherToken, "MIRRORED=" + mirrored, "SENSEI=sensei-" + id}

	t.Run("sandbox environment", func(t *testing.T) {
		res := run(t, e, sb, `echo "REGISTRY=$REGISTRY"; getent hosts registry.handson; cat ~/.config/docker/daemon.json; docker info --format '{{json .RegistryConfig.Mirrors}}'; docker info --format '{{json .RegistryConfig.IndexConfigs}}'`)
		// The insecure registry keeps its scheme (for BuildKit); the daemon
		// itself must still count the name as insecure (plain HTTP).
		out := string(res.Output)
		host, _, _ := strings.Cut(strings.TrimPrefix(c.reg.SandboxHosts()[0], HostName+":"), ":")
		for _, want := range []string{"REGISTRY=" + c.reg.Address(), host + " ", "registry.handson", `"http://` + c.reg.Address() + `"`, `"insecure-registries": ["http://` + c.reg.Address() + `"]`, `"Name":"` + c.reg.Address() + `","Mirrors":[],"Secure":false`, `["http://` + c.reg.Address() + `/"]`} {
			if !strings.Contains(out, want) {
				t.Errorf("sandbox lacks %q", want)
			}
		}
	})

	t.Run("pull through the mirror, no internet", func(t *testing.T) {
		res := run(t, e, sb, `docker pull "$MIRRORED" && docker run --rm "$MIRRORED" echo mirrored-ok`, env...)
		if res.ExitCode != 0 || !strings.Contains(string(res.Output), "mirrored-ok") {
			t.Fatalf("docker pull through the mirror failed")
		}
	})

	// The seeded course images (scripts/seed-registry.sh, run by make
	// images): required in CI, skipped with the reason elsewhere.
	lib := c.reg.Status().Library
	seeded := func(t *testing.T, name string) {
		t.Helper()
		if !slices.Contains(lib, "library/"+name) {
			testenv.Missing(t, "library/%s is not seeded in the volume %s (run scripts/seed-registry.sh); library: %v", name, DefaultVolume, lib)
		}
	}
	t.Run("seeded hello-world", func(t *testing.T) {
		seeded(t, "hello-world")
		res := run(t, e, sb, `docker run --rm hello-world`)
		if res.ExitCode != 0 || !strings.Contains(string(res.Output), "Hello") {
			t.Errorf("docker run hello-world failed")
		}
	})
	t.Run("seeded wordpress", func(t *testing.T) {
		seeded(t, "wordpress")
		// A student's first pull of the biggest course image.
		res := run(t, e, sb, `start=$(date +%s.%N); docker pull wordpress >/dev/null && echo "PULLED in $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || awk -v a=$start -v b=$(date +%s.%N) 'BEGIN{print b-a}') s"; docker image inspect -f '{{.Size}}' wordpress`)
		if res.ExitCode != 0 || !strings.Contains(string(res.Output), "PULLED") {
			t.Errorf("docker pull wordpress failed")
		}
	})

	t.Run("login, push to own namespace, refused elsewhere", func(t *testing.T) {
		res := run(t, e, sb, `try() { local n=$1; shift; "$@" 2>&1 | tail -n 3 | sed 's/^/    /'; echo "RESULT $n ${PIPESTATUS[0]}"; }
try password-login sh -c 'echo "$PASSWORD" | docker login -u "$ALICE" --password-stdin "$REGISTRY"'
try wrong-login sh -c 'echo hst_WRONG | docker login -u "$ALICE" --password-stdin "$REGISTRY"'
try other-user-login sh -c 'echo "$TOKEN" | docker login -u "$BOB" --password-stdin "$REGISTRY"'
try login sh -c 'echo "$TOKEN" | docker login -u "$ALICE" --password-stdin "$REGISTRY"'
docker tag "$MIRRORED" "$REGISTRY/$ALICE/app:1"
docker tag "$MIRRORED" "$REGISTRY/$BOB/app:1"
docker tag "$MIRRORED" "$REGISTRY/library/$MIRRORED:evil"
docker tag "$MIRRORED" "$REGISTRY/library/evil:1"
try push-own docker push "$REGISTRY/$ALICE/app:1"
try push-other docker push "$REGISTRY/$BOB/app:1"
try push-library docker push "$REGISTRY/library/$MIRRORED:evil"
try push-library-new docker push "$REGISTRY/library/evil:1"
try pull-own sh -c 'docker rmi "$REGISTRY/$ALICE/app:1" >/dev/null && docker pull "$REGISTRY/$ALICE/app:1"'
docker logout "$REGISTRY"
try anonymous-pull-own docker pull "$REGISTRY/$ALICE/app:1"
try teacher-login sh -c 'echo "$TEACHER_TOKEN" | docker login -u "$SENSEI" --password-stdin "$REGISTRY"'
try teacher-pull sh -c 'docker rmi "$REGISTRY/$ALICE/app:1" >/dev/null; docker pull "$REGISTRY/$ALICE/app:1"'
try teacher-push docker push "$REGISTRY/$ALICE/app:1"
docker logout "$REGISTRY"`, env...)
		expectResults(t, res.Output, map[string]bool{
			"password-login": false, "wrong-login": false, "other-user-login": false, "login": true,
			"push-own": true, "push-other": false, "push-library": false, "push-library-new": false,
			"pull-own": true, "anonymous-pull-own": false,
			"teacher-login": true, "teacher-pull": true, "teacher-push": false,
		})
		if !strings.Contains(string(res.Output), "denied") {
			t.Errorf("a refused push should say \"denied\"")
		}
	})

	t.Run("instructor sees what the student pushed", func(t *testing.T) {
		repos, err := c.reg.Pushed(context.Background(), alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(repos) != 1 || repos[0].Name != alice+"/app" || !slices.Equal(repos[0].Tags, []string{"1"}) {
			t.Errorf("Pushed(%s) = %+v", alice, repos)
		}
		if repos, err := c.reg.Pushed(context.Background(), bob); err != nil || len(repos) != 0 {
			t.Errorf("Pushed(%s) = %+v, %v: bob pushed nothing", bob, repos, err)
		}
		if repos, _ := c.reg.Pushed(context.Background(), imageref.Library); !slices.ContainsFunc(repos, func(r imageref.Repository) bool { return r.Name == "library/"+mirrored }) ||
			slices.ContainsFunc(repos, func(r imageref.Repository) bool { return r.Name == "library/evil" }) {
			t.Errorf("library: %+v", repos)
		}
	})

	t.Run("forged and expired tokens are refused", func(t *testing.T) {
		grant := []Access{{Type: "repository", Name: alice + "/app", Actions: []string{"pull", "push"}}}
		good, _ := c.reg.signer.Sign(alice, grant, time.Minute)
		other, _ := NewSigner(Issuer, Service) // a key the registry does not trust
		forged, _ := other.Sign(alice, grant, time.Minute)
		other.kid = c.reg.signer.kid // claiming to be the platform's key
		forgedKid, _ := other.Sign(alice, grant, time.Minute)
		past := *c.reg.signer
		past.now = func() time.Time { return time.Now().Add(-time.Hour) }
		expired, _ := past.Sign(alice, grant, 5*time.Minute)
		wrongAud := *c.reg.signer
		wrongAud.Service = "another-registry"
		otherAud, _ := wrongAud.Sign(alice, grant, time.Minute)
		script := `try() { local n=$1; shift; local code; code=$(curl -s -o /dev/null -w '%{http_code}' "$@"); echo "    HTTP $code"; [ "$code" = 200 ]; echo "RESULT $n $?"; }
url="http://$REGISTRY/v2/$ALICE/app/manifests/1"
accept='Accept: application/vnd.docker.distribution.manifest.v2+json'
try good -H "$accept" -H "Authorization: Bearer $GOOD" "$url"
try forged -H "$accept" -H "Authorization: Bearer $FORGED" "$url"
try forged-kid -H "$accept" -H "Authorization: Bearer $FORGED_KID" "$url"
try expired -H "$accept" -H "Authorization: Bearer $EXPIRED" "$url"
try other-audience -H "$accept" -H "Authorization: Bearer $OTHER_AUD" "$url"
try none -H "$accept" "$url"
try password -H "$accept" -u "$ALICE:$PASSWORD" "$url"
try token-with-password -u "$ALICE:$PASSWORD" "http://$REGISTRY/token?service=handson-registry&scope=repository:$ALICE/app:pull"
try token-with-token -u "$ALICE:$TOKEN" "http://$REGISTRY/token?service=handson-registry&scope=repository:$ALICE/app:pull"`
		res := run(t, e, sb, script, append(env, "GOOD="+good, "FORGED="+forged, "FORGED_KID="+forgedKid, "EXPIRED="+expired, "OTHER_AUD="+otherAud)...)
		got := results(res.Output)
		for name, ok := range map[string]bool{"good": true, "forged": false, "forged-kid": false, "expired": false, "other-audience": false, "none": false, "password": false,
			"token-with-password": false, "token-with-token": true} {
			code, ran := got[name]
			switch {
			case !ran:
				t.Errorf("%s did not run", name)
			case ok && code != 0:
				t.Errorf("%s was refused, want HTTP 200", name)
			case !ok && code == 0:
				t.Errorf("ATTACK SUCCEEDED: %s got HTTP 200", name)
			}
		}
		if !strings.Contains(string(res.Output), "HTTP 401") {
			t.Error("refusals should be HTTP 401")
		}
	})

	// Only the registry's port is open: the registry container's own port
	// (published on 127.0.0.1) and any other port of the registry's
	// address stay closed.
	t.Run("nothing else of the host", func(t *testing.T) {
		host, _, _ := strings.Cut(strings.TrimPrefix(c.reg.SandboxHosts()[0], HostName+":"), ":")
		inner := c.reg.main.current()
		_, innerPort, _ := strings.Cut(inner, ":")
		res := run(t, e, sb, fmt.Sprintf(`try() { local n=$1; shift; "$@" >/dev/null 2>&1; echo "RESULT $n $?"; }
try registry curl -s -m 5 -o /dev/null http://%[1]s:5000/v2/
try inner-port curl -s -m 5 http://%[1]s:%[2]s/v2/
try inner-port-gw curl -s -m 5 http://172.17.0.1:%[2]s/v2/
try other-port curl -s -m 5 http://%[1]s:22/`, host, innerPort))
		got := results(res.Output)
		if got["registry"] != 0 {
			t.Errorf("the registry's port is not reachable (exit %d)", got["registry"])
		}
		for _, n := range []string{"inner-port", "inner-port-gw", "other-port"} {
			if code, ok := got[n]; !ok || code == 0 {
				t.Errorf("ATTACK SUCCEEDED or did not run: %s (exit %d, ran %v)", n, code, ok)
			}
		}
	})
}

// TestRegistrySurvives kills the registry container: the watch starts it
// again, and a removed one is made again.
func TestRegistrySurvives(t *testing.T) {
	testenv.RequireDocker(t)
	c := startClassroom(t, "regtest-"+randomID())
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	wait := func(what string) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			if addr := c.reg.main.current(); addr != "" && ping(ctx, addr) == nil && c.reg.Status().Ready {
				res, err := http.Get(c.reg.URL() + "/v2/")
				if err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusUnauthorized {
						return
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("the registry did not come back after %s", what)
	}
	wait("start")
	if _, err := cli.ContainerKill(ctx, c.reg.main.spec.Name, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	wait("kill")
	if _, err := cli.ContainerRemove(ctx, c.reg.main.spec.Name, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	wait("removal")
	// While it is down the listener says so in the registry API's words.
	c.reg.main.forget()
	rec, err := http.Get(c.reg.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rec.Body)
	rec.Body.Close()
	if rec.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "classroom registry is not running") {
		t.Errorf("with the registry unknown: %d %s", rec.StatusCode, body)
	}
	wait("forgetting its address")
}

// TestPullThrough runs the registry with an upstream (a plain registry
// container standing in for Docker Hub, which these machines cannot
// reach): a sandbox pulls an image only the upstream has, through the
// cache, while a student still pushes to the class registry.
func TestPullThrough(t *testing.T) {
	testenv.RequireImage(t, testenv.RegistryImage)
	id := randomID()
	ctx := context.Background()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	upVolume, cacheVolume := "handson-regtest-"+id+"-upstream", "handson-regtest-"+id+"-cache"
	t.Cleanup(func() {
		for _, v := range []string{upVolume, cacheVolume} {
			cli.VolumeRemove(context.Background(), v, client.VolumeRemoveOptions{Force: true})
		}
	})
	up := &supervised{cli: cli, log: testLog(t), spec: containerSpec{
		Name: "handson-regtest-" + id + "-upstream", Image: DefaultImage, Volume: upVolume, Instance: "regtest-" + id,
		Files: map[string][]byte{"config.yml": []byte("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\nhttp:\n  addr: :5000\n")},
	}}
	upAddr, err := up.ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.remove(context.Background()) })
	if err := waitAnswerPlain(upAddr); err != nil {
		t.Fatal(err)
	}
	signer, _ := NewSigner(Issuer, Service) // the upstream checks no token
	seedAt(t, upAddr, signer, "handson/busybox:latest", "library/upstream-only-"+id)
	// The cache reaches the upstream on Docker's bridge.
	info, err := cli.ContainerInspect(ctx, up.spec.Name, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	upIP := info.Container.NetworkSettings.Networks["bridge"].IPAddress.String()

	instance := "regtest-" + id
	c := startClassroom(t, instance, func(o *Options) {
		o.Upstream = "http://" + upIP + ":5000"
		o.CacheVolume = cacheVolume
	})
	alice := "alice-" + id
	_, token := c.user(t, alice, store.RoleStudent)
	e, sb := sandboxFor(t, c, instance)
	res := run(t, e, sb, `try() { local n=$1; shift; "$@" 2>&1 | tail -n 2 | sed 's/^/    /'; echo "RESULT $n ${PIPESTATUS[0]}"; }
try pull-upstream docker pull "upstream-only-$ID"
try pull-upstream-again sh -c 'docker rmi "upstream-only-$ID" >/dev/null && docker pull "upstream-only-$ID"'
try login sh -c 'echo "$TOKEN" | docker login -u "$ALICE" --password-stdin "$REGISTRY"'
docker tag busybox "$REGISTRY/$ALICE/app:1"
docker tag busybox "$REGISTRY/library/upstream-only-$ID:evil"
try push-own docker push "$REGISTRY/$ALICE/app:1"
try push-library docker push "$REGISTRY/library/upstream-only-$ID:evil"`, "ID="+id, "ALICE="+alice, "TOKEN="+token)
	expectResults(t, res.Output, map[string]bool{"pull-upstream": true, "pull-upstream-again": true, "login": true, "push-own": true, "push-library": false})
	if repos, err := c.reg.Pushed(ctx, alice); err != nil || len(repos) != 1 {
		t.Errorf("the student's push is not in the class registry: %+v, %v", repos, err)
	}
}

// waitAnswerPlain waits for a registry without auth.
func waitAnswerPlain(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the upstream registry does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
