package tests

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/testenv"
)

const crashLab = "crash-test"

// owned lists the containers and networks of the installation a belongs to.
func owned(t *testing.T, a *platform.Platform) (containers, networks []string) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	instance, err := a.DB.InstanceID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := client.Filters{}.Add("label", docker.LabelInstance+"="+instance)
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		containers = append(containers, c.Names[0])
	}
	ns, err := cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.Name)
	}
	return containers, networks
}

// crashChild is the server killed in TestCrashMidStartIsAdopted: that
// test runs itself again in a child process, which comes here.
func crashChild(t *testing.T, dir string) {
	a := startPlatform(t, dir, io.Discard)
	key := sandbox.Key{UserID: 1, Lab: crashLab} // the first admin
	go a.Server.Sandboxes.Open(context.Background(), key, a.Labs.Base, nil)
	time.Sleep(time.Minute) // the parent kills us long before
}

// A server killed with SIGKILL while a sandbox starts leaks nothing: the
// next start adopts the sandbox, which then works.
func TestCrashMidStartIsAdopted(t *testing.T) {
	if dir := os.Getenv("HANDSON_CRASH_CHILD"); dir != "" {
		crashChild(t, dir)
		return
	}
	testenv.RequireDocker(t)
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCrashMidStartIsAdopted$", "-test.v")
	child.Env = append(os.Environ(), "HANDSON_CRASH_CHILD="+dir)
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bufio.NewReader(out))

	// Kill it once its sandbox's container exists, while it waits for Docker.
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", docker.LabelLab+"="+crashLab).Add("label", docker.LabelUser+"=1")
	deadline := time.Now().Add(60 * time.Second)
	var name string
	for name == "" && time.Now().Before(deadline) {
		cs, _ := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
		for _, c := range cs.Items {
			if strings.Contains(c.Names[0], "-u1-"+crashLab) {
				// Only this run's: its data dir's instance id is unknown to us
				// until the child wrote it, so match the newest.
				name = c.Names[0]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if name == "" {
		t.Fatal("the child never created its sandbox")
	}
	t.Logf("killed the server mid-start; its sandbox %s exists", name)

	a := startPlatform(t, dir, io.Discard)
	t.Cleanup(func() { a.Engine.Remove(context.Background(), sandbox.Key{UserID: 1, Lab: crashLab}) })
	containers, networks := owned(t, a)
	if len(containers) != 1 || len(networks) != 1 {
		t.Fatalf("after restart: containers %v, networks %v; want exactly the one sandbox", containers, networks)
	}
	recs, err := a.DB.Sandboxes(context.Background())
	if err != nil || len(recs) != 1 || recs[0].Key.Lab != crashLab {
		t.Fatalf("records after restart = %+v, %v; want the adopted sandbox", recs, err)
	}
	var phases []sandbox.Phase
	start := time.Now()
	if _, err := a.Server.Sandboxes.Open(context.Background(), recs[0].Key, a.Labs.Base, func(ev sandbox.Event) { phases = append(phases, ev.Phase) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("adopted sandbox ready in %s (phases %v)", time.Since(start).Round(time.Millisecond), phases)
	for _, p := range phases {
		if p == sandbox.Creating {
			t.Error("the adopted sandbox was created again")
		}
	}
}

// watchedSandbox starts a platform on the host's Docker for a test of
// user 1's sandbox of lab (removed at the end), and subscribes to its news.
func watchedSandbox(t *testing.T, lab string) (*platform.Platform, sandbox.Key, <-chan sandbox.Event) {
	t.Helper()
	testenv.RequireDocker(t)
	a := startPlatform(t, t.TempDir(), io.Discard)
	key := sandbox.Key{UserID: 1, Lab: lab}
	t.Cleanup(func() { a.Engine.Remove(context.Background(), key) })
	events, cancel := a.Server.Sandboxes.Subscribe(key)
	t.Cleanup(cancel)
	return a, key, events
}

// A sandbox stopped behind the platform's back, or fork-bombed, is found by
// the sweep, restarted, and its student told.
func TestRecoveryOnRealDaemon(t *testing.T) {
	a, key, events := watchedSandbox(t, "recovery-test")
	ctx := context.Background()
	m := a.Server.Sandboxes
	sb, err := m.Open(ctx, key, a.Labs.Base, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The platform's own sweep runs too: either may do the recovery.
	waitRecovered := func(why, cause string) {
		t.Helper()
		for i := 0; i < 5; i++ {
			if err := m.Sweep(ctx, false); err != nil {
				t.Fatal(err)
			}
			if ev, ok := next(events, sandbox.KindRecovered, 300*time.Millisecond); ok {
				t.Logf("%s: %s", why, ev.Message)
				if !strings.Contains(ev.Message, cause) {
					t.Errorf("%s: the student was told %q, want the cause (%q)", why, ev.Message, cause)
				}
				if err := a.Engine.Probe(ctx, key); err != nil {
					t.Fatalf("after recovery the sandbox does not answer: %v", err)
				}
				return
			}
		}
		t.Fatalf("%s: not recovered after 5 sweeps", why)
	}

	cli, _ := client.New(client.FromEnv)
	defer cli.Close()
	timeout := 1
	if _, err := cli.ContainerStop(ctx, sb.ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	waitRecovered("stopped from outside", "stopped unexpectedly")

	start := time.Now()
	bomb := `setsid bash -c ':(){ :|:& };:' >/dev/null 2>&1 </dev/null & sleep 2`
	if _, err := a.Engine.Exec(ctx, sb, sandbox.Command{Cmd: []string{"bash", "-c", bomb}, Timeout: 20 * time.Second}); err != nil {
		t.Logf("exec of the bomb: %v", err)
	}
	waitRecovered("fork bomb", "ran out of processes")
	t.Logf("fork bomb to recovered sandbox: %s", time.Since(start).Round(time.Millisecond))
	if err := a.Engine.Probe(ctx, key); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

// TestBusyHostIsNotRecovered: the false recovery of a class's first minute.
// With every CPU busy, a sandbox starts while the sweep runs four times a
// second (the server's runs every 15 s; a class has many sandboxes starting
// at once): its Docker is slow to come up and slow to answer afterwards,
// and it is never restarted (before, two failed probes restarted it and
// closed the student's shell).
func TestBusyHostIsNotRecovered(t *testing.T) {
	a, key, events := watchedSandbox(t, "busy-test")
	ctx := context.Background()
	m := a.Server.Sandboxes

	// Busy loops, two per CPU, as separate processes (as students' builds).
	burn, stopBurning := context.WithCancel(ctx)
	defer stopBurning()
	for range 2 * runtime.NumCPU() {
		c := exec.CommandContext(burn, "sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go c.Wait()
	}

	start := time.Now()
	_, ready, err := m.Start(ctx, key, a.Labs.Base, nil)
	if err != nil {
		t.Fatal(err)
	}
	sweeps := 0
	sweep := func() {
		if err := m.Sweep(ctx, false); err != nil {
			t.Errorf("sweep: %v", err)
		}
		sweeps++
	}
	for waiting := true; waiting; {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("not ready on a busy host: %v", err)
			}
			waiting = false
		case <-time.After(250 * time.Millisecond):
			sweep()
		}
	}
	t.Logf("ready on a busy host after %s, %d sweeps meanwhile", time.Since(start).Round(time.Millisecond), sweeps)
	for range 12 { // and busy after: its Docker answers slowly
		sweep()
		time.Sleep(250 * time.Millisecond)
	}
	stopBurning()
	for len(events) > 0 {
		if ev := <-events; ev.Kind != sandbox.KindPhase {
			t.Errorf("the student was told %s: %s", ev.Kind, ev.Message)
		}
	}
	if err := a.Engine.Probe(ctx, key); err != nil {
		t.Errorf("after the load: %v", err)
	}
}

// next returns the next event of kind on events, if one comes within wait.
func next(events <-chan sandbox.Event, kind string, wait time.Duration) (sandbox.Event, bool) {
	timeout := time.After(wait)
	for {
		select {
		case ev := <-events:
			if ev.Kind == kind {
				return ev, true
			}
		case <-timeout:
			return sandbox.Event{}, false
		}
	}
}
