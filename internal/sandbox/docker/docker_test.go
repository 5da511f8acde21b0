package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"handson/content"
	"handson/internal/labrun"
	"handson/internal/sandbox"
	"handson/internal/testenv"
)

// newEngine connects to the real daemon and removes the test's sandbox
// before and after, so a crashed earlier run leaves nothing behind.
func newEngine(t *testing.T, key sandbox.Key) *Engine {
	t.Helper()
	testenv.RequireDocker(t)
	e, err := New(context.Background(), "test"+strconv.Itoa(os.Getpid()), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	clean := func() {
		if err := e.Remove(context.Background(), key); err != nil {
			t.Errorf("remove: %v", err)
		}
	}
	clean()
	t.Cleanup(func() { clean(); e.Close() })
	return e
}

// ensureReady is what the manager does: start, then wait for Docker inside.
func ensureReady(ctx context.Context, e *Engine, key sandbox.Key, spec sandbox.Spec, progress func(sandbox.Phase)) (*sandbox.Sandbox, error) {
	sb, err := e.Ensure(ctx, key, spec, progress)
	if err != nil {
		return nil, err
	}
	return sb, e.WaitReady(ctx, sb)
}

var spec = sandbox.Spec{Image: testenv.SandboxImage, Limits: sandbox.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512, OpenFiles: 4096}}

func TestSandboxLifecycle(t *testing.T) {
	key := sandbox.Key{UserID: 999001, Lab: "engine-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var phases []sandbox.Phase
	start := time.Now()
	sb, err := ensureReady(ctx, e, key, spec, func(p sandbox.Phase) { phases = append(phases, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sandbox ready in %v (phases %v)", time.Since(start).Round(time.Millisecond), phases)
	if len(phases) != 2 || phases[0] != sandbox.Creating || phases[1] != sandbox.Starting {
		t.Errorf("phases = %v, want creating, starting", phases)
	}

	// The container is limited and unprivileged, on its own network.
	info, err := e.cli.ContainerInspect(ctx, sb.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := info.Container.HostConfig
	if hc.Privileged || len(hc.CapAdd) > 0 || len(hc.Binds) > 0 || len(hc.Mounts) > 0 {
		t.Errorf("privileged=%v capadd=%v binds=%v mounts=%v: want none", hc.Privileged, hc.CapAdd, hc.Binds, hc.Mounts)
	}
	if hc.Memory != spec.Limits.MemoryBytes || hc.NanoCPUs != 1e9 || hc.PidsLimit == nil || *hc.PidsLimit != 512 {
		t.Errorf("limits memory=%d cpus=%d pids=%v", hc.Memory, hc.NanoCPUs, hc.PidsLimit)
	}
	if len(hc.Ulimits) != 1 || hc.Ulimits[0].Name != "nofile" || hc.Ulimits[0].Hard != 4096 {
		t.Errorf("ulimits = %v, want nofile 4096", hc.Ulimits)
	}
	if string(hc.NetworkMode) != e.Name(key) || info.Container.Config.Labels[LabelManaged] != "true" {
		t.Errorf("network %q labels %v", hc.NetworkMode, info.Container.Config.Labels)
	}

	// The student's Docker waits for its first use: no dockerd yet.
	if out := rootSh(ctx, t, e, sb, "pgrep -x dockerd || echo none"); out != "none" {
		t.Errorf("dockerd runs (pids %q) before anyone used docker", out)
	}

	// The student is unprivileged; the student's own Docker starts when
	// first used, and runs containers.
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", "id -u; docker run --rm busybox echo inner-ok"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if out := string(res.Output); res.ExitCode != 0 || !strings.HasPrefix(out, "1000\n") || !strings.Contains(out, "inner-ok") {
		t.Fatalf("student exec: exit %d, output %q", res.ExitCode, out)
	}
	// The host daemon is out of reach: no socket is mounted.
	res, _ = e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", "test -S /var/run/docker.sock && echo HOST-SOCKET"}, User: "root"})
	if strings.Contains(string(res.Output), "HOST-SOCKET") {
		t.Error("the host's docker.sock is inside the sandbox")
	}

	// A check fails before the student acts and passes after.
	g := &labrun.Runner{Exec: e, CheckTimeout: 20 * time.Second}
	lab := &content.Lab{Lang: "en"}
	check := &content.Step{Check: `docker inspect hello >/dev/null 2>&1 || fail "no container hello"`}
	r, err := g.Check(ctx, sb, lab, check)
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed || r.Message != "no container hello" {
		t.Fatalf("check before: passed=%v message=%q output=%q", r.Passed, r.Message, r.Output)
	}
	if res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "run", "--name", "hello", "busybox", "true"}, Timeout: time.Minute}); err != nil || res.ExitCode != 0 {
		t.Fatalf("docker run hello: %v %+v", err, res)
	}
	if r, err = g.Check(ctx, sb, lab, check); err != nil || !r.Passed {
		t.Fatalf("check after: %v %+v", err, r)
	}

	// A check that hangs is stopped.
	g.CheckTimeout = 2 * time.Second
	if r, err = g.Check(ctx, sb, lab, &content.Step{Check: "sleep 30"}); err != nil || r.Passed || !strings.Contains(r.Message, "did not finish") {
		t.Errorf("hanging check: %v %+v", err, r)
	}

	// Ensure on a running sandbox just returns it.
	if _, err := ensureReady(ctx, e, key, spec, nil); err != nil {
		t.Fatal(err)
	}

	if err := e.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.ContainerInspect(ctx, sb.ID, client.ContainerInspectOptions{}); err == nil {
		t.Error("container still there after Remove")
	}
	if _, err := e.cli.NetworkInspect(ctx, e.Name(key), client.NetworkInspectOptions{}); err == nil {
		t.Error("network still there after Remove")
	}
}

// rootSh runs a shell command as root in sb and returns its trimmed output.
func rootSh(ctx context.Context, t *testing.T, e *Engine, sb *sandbox.Sandbox, cmd string) string {
	t.Helper()
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", cmd}, User: "root", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(res.Output))
}

// TestResumeStartsDocker: a sandbox whose Docker holds containers starts
// it with the sandbox (after an idle stop, what the student left running
// comes back without a docker command); one that used Docker for nothing
// kept does not.
func TestResumeStartsDocker(t *testing.T) {
	key := sandbox.Key{UserID: 999005, Lab: "resume-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resume := func() *sandbox.Sandbox {
		t.Helper()
		if err := e.Stop(ctx, key); err != nil {
			t.Fatal(err)
		}
		sb, err := ensureReady(ctx, e, key, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	sb, err := ensureReady(ctx, e, key, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "run", "--rm", "busybox", "true"}, Timeout: time.Minute}); err != nil || res.ExitCode != 0 {
		t.Fatalf("docker run --rm: %v %+v", err, res)
	}
	sb = resume()
	if out := rootSh(ctx, t, e, sb, "sleep 2; pgrep -x dockerd || echo none"); out != "none" {
		t.Errorf("resumed with no containers kept, dockerd runs (pids %q)", out)
	}
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "run", "-d", "--restart", "always", "--name", "web", "busybox", "sleep", "1d"}, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("docker run -d: %v %+v", err, res)
	}
	sb = resume()
	// No docker command from here: the init starts it by itself.
	if out := rootSh(ctx, t, e, sb, "/usr/local/bin/handson-ready wait 1 >/dev/null 2>&1; for i in $(seq 600); do /usr/bin/docker inspect -f '{{.State.Running}}' web 2>/dev/null | grep -q true && break; sleep 0.1; done; /usr/bin/docker inspect -f '{{.State.Running}}' web 2>&1"); out != "true" {
		t.Errorf("after the resume, the student's container: %q, want it running again", out)
	}
}

func TestShell(t *testing.T) {
	key := sandbox.Key{UserID: 999002, Lab: "shell-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := ensureReady(ctx, e, key, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := e.Shell(ctx, sb, 120, 40)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	io.WriteString(tty, "stty size; whoami; echo こんにちは$((6*7))\n")
	if out := readUntil(t, tty, "こんにちは42"); !strings.Contains(out, "40 120") || !strings.Contains(out, "student") {
		t.Errorf("shell output %q: want size 40 120 and user student", out)
	}
	if err := tty.Resize(90, 20); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tty, "echo $(stty size)x\n")
	readUntil(t, tty, "20 90x")
}

func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := make([]byte, 4096)
		for !strings.Contains(buf.String(), want) {
			n, err := r.Read(p)
			buf.Write(p[:n])
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
	}
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("stream ended without %q: %q", want, buf.String())
	}
	return buf.String()
}

func TestWarmClaim(t *testing.T) {
	key := sandbox.Key{UserID: 999003, Lab: "warm-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	w, err := e.Warm(ctx, key.Lab, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warm sandbox %s ready in %s", w, time.Since(start).Round(time.Millisecond))
	list, err := e.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Warm || list[0].Key.Lab != key.Lab {
		t.Fatalf("List = %+v, %v; want one warm sandbox", list, err)
	}
	start = time.Now()
	sb, err := e.Claim(ctx, w, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claimed in %s", time.Since(start).Round(time.Millisecond))
	if st, _ := e.Status(ctx, key, false); st.State != sandbox.Running {
		t.Errorf("claimed sandbox state %s", st.State)
	}
	if list, _ = e.List(ctx); len(list) != 1 || list[0].Warm || list[0].Key != key {
		t.Errorf("after the claim List = %+v, want it to be %v's", list, key)
	}
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "run", "--rm", "busybox", "echo", "warm-ok"}, Timeout: time.Minute})
	if err != nil || !strings.Contains(string(res.Output), "warm-ok") {
		t.Fatalf("docker in the claimed sandbox: %v %+v", err, res)
	}
	// Remove takes its network too, though that still has the warm name.
	if err := e.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.NetworkInspect(ctx, w, client.NetworkInspectOptions{}); err == nil {
		t.Errorf("network %s left behind", w)
	}
}

// TestPruneKeepsStoppedSandboxes: a stopped sandbox has no endpoint on its
// network, yet Prune (at every server start) must leave the network, or
// the sandbox can never start again.
func TestPruneKeepsStoppedSandboxes(t *testing.T) {
	key := sandbox.Key{UserID: 999003, Lab: "prune-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := e.Ensure(ctx, key, spec, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := e.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ensure(ctx, key, spec, nil); err != nil {
		t.Fatalf("the stopped sandbox does not start after Prune: %v", err)
	}
}

// TestBrokenSandboxSaysWhy: a sandbox whose own dockerd dies at once (here
// a daemon.json it cannot read) is reported broken, with the daemon's own
// words, within seconds of its first use, by docker itself, StartDocker
// and Probe, instead of "not answering" after the ready timeout.
func TestBrokenSandboxSaysWhy(t *testing.T) {
	key := sandbox.Key{UserID: 999003, Lab: "engine-broken"}
	e := newEngine(t, key)
	e.SandboxEnv = []string{`HANDSON_REGISTRY_MIRROR=x"y`} // the init writes it into daemon.json as is
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sb, err := ensureReady(ctx, e, key, spec, nil)
	if err != nil {
		t.Fatalf("WaitReady: %v; the sandbox is ready for a shell, its Docker not yet asked for", err)
	}
	// The student's first docker command says why, in the daemon's words.
	res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{"docker", "info"}, Timeout: time.Minute})
	if err != nil || res.ExitCode == 0 || !strings.Contains(string(res.Output), "unable to configure the Docker daemon") {
		t.Errorf("docker info in the broken sandbox: %v %+v, want it to fail with the cause", err, res)
	}
	var b *sandbox.BrokenError
	if err := e.StartDocker(ctx, sb); !errors.As(err, &b) {
		t.Fatalf("StartDocker: %v, want a *sandbox.BrokenError", err)
	}
	t.Logf("broken after %s: %s", time.Since(start).Round(time.Millisecond), b.Cause)
	if !strings.Contains(b.Cause, "dockerd exited 3 times") || !strings.Contains(b.Cause, "unable to configure the Docker daemon") {
		t.Errorf("cause %q: want the deaths counted and dockerd's own error", b.Cause)
	}
	if time.Since(start) > e.readyTimeout/2 {
		t.Errorf("took %s: the broken sandbox was waited for like a slow one", time.Since(start))
	}
	if err := e.Probe(ctx, key); !errors.As(err, &b) {
		t.Errorf("Probe: %v, want a *sandbox.BrokenError", err)
	}
}

// Capacity measures what the host has and what this installation's running
// sandboxes use, from their cgroups.
func TestCapacity(t *testing.T) {
	key := sandbox.Key{UserID: 999004, Lab: "capacity-test"}
	e := newEngine(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before, err := e.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Available <= 0 || before.Running != 0 {
		t.Fatalf("before any sandbox: %+v", before)
	}
	sb, err := ensureReady(ctx, e, key, spec, nil)
	if err == nil {
		err = e.StartDocker(ctx, sb)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one sandbox with its Docker: %d MiB in use; %d MiB available", c.PerSandbox>>20, c.Available>>20)
	// A ready sandbox runs its own dockerd and containerd: tens of MiB.
	if c.Running != 1 || c.PerSandbox < 10<<20 || c.PerSandbox > spec.Limits.MemoryBytes {
		t.Errorf("with one ready sandbox: %+v", c)
	}
}
