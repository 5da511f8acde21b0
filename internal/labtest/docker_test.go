package labtest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"handson/content"
	"handson/internal/config"
	"handson/internal/labrun"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/testenv"
)

// brokenLab's second check passes on a fresh sandbox: "No such container:
// tiny" contains "tiny". lab test must catch it.
const brokenLab = "---\nid: broken\ntitle: Broken\n---\n" +
	"## Good {#good}\n```check\n[ -f /home/student/x ] || fail no x\n```\n```solve\ntouch x\n```\n" +
	"## Broken {#broken}\n```check\ndocker logs tiny 2>&1 | grep -q tiny || fail no output\n```\n```solve\ndocker run --name tiny busybox echo tiny\n```\n"

// newEngine is the Docker engine lab test uses, closed when t ends.
func newEngine(t *testing.T, ctx context.Context) *docker.Engine {
	t.Helper()
	engine, err := platform.Engine(ctx, platform.NewInstance("labtest"), config.Default().RegistryPort(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return engine
}

// scriptsOn runs scripts on engine's sandboxes, which are the server's.
func scriptsOn(engine *docker.Engine) *labrun.Runner {
	return &labrun.Runner{Exec: engine, Base: sandbox.Spec{Image: testenv.SandboxImage, Limits: sandbox.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512, OpenFiles: 8192}}}
}

// TestRealSandbox runs lab test on real sandboxes: testdata/tiny (assets,
// a lab setup, a step setup, a file and a container) must pass, and a lab
// with a check that passes before its solve must fail.
func TestRealSandbox(t *testing.T) {
	testenv.RequireDocker(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	engine := newEngine(t, ctx)

	good, err := content.Load(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := content.Load(fstest.MapFS{"broken/lab.md": {Data: []byte(brokenLab)}})
	if err != nil {
		t.Fatal(err)
	}
	entries := append(good.Labs(), bad.Labs()...)
	var out bytes.Buffer
	rep, err := Run(ctx, engine, scriptsOn(engine), entries, Options{Verbose: true}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Labs) != 2 {
		t.Fatalf("%d labs tested, want 2", len(rep.Labs))
	}
	if tiny := rep.Labs[0]; !tiny.OK() || len(tiny.Steps) != 2 {
		t.Errorf("tiny failed: %+v", tiny)
	}
	broken := rep.Labs[1]
	if broken.OK() || broken.Steps[0].Status != Pass || broken.Steps[1].Status != Fail ||
		!strings.Contains(broken.Steps[1].Problems[0].Message, "check passed before the solve") {
		t.Errorf("broken lab: %+v", broken.Steps)
	}
	for _, key := range []sandbox.Key{{Lab: "tiny"}, {Lab: "broken"}} {
		st, err := engine.Status(ctx, key, false)
		if err != nil || st.State != sandbox.Missing {
			t.Errorf("sandbox %v left behind: %+v %v", key, st, err)
		}
	}
}

// TestDocExamples proves the complete example labs of docs/authoring.md
// and docs/authoring.ja.md on real sandboxes (content's tests keep the
// docs and these files identical).
func TestDocExamples(t *testing.T) {
	testenv.RequireDocker(t)
	for _, lang := range []string{"en", "ja"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			engine := newEngine(t, ctx)
			course, err := content.Load(os.DirFS("../../content/testdata/examples/" + lang))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			rep, err := Run(ctx, engine, scriptsOn(engine), course.Labs(), Options{}, &out)
			if err != nil || !rep.OK() || len(rep.Labs) != 1 {
				t.Errorf("the example lab does not pass (%v):\n%s", err, out.String())
			}
		})
	}
}
