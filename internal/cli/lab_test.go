package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"handson/content"
	"handson/internal/testenv"
	"handson/server"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeLab writes files (path → text) under a new folder and returns it.
func writeLab(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const cliLab = "---\nid: demo\ntitle: Demo\nimage: handson/other\n---\n## A {#a}\n```check\ntrue\n```\n```solve\ntrue\n```\n"

func TestLabLint(t *testing.T) {
	if code, out, _ := runCLI("lab", "lint", "../../labs"); code != 0 || out != "ok\n" {
		t.Errorf("lint of the built-in course: exit %d\n%s", code, out)
	}
	dir := writeLab(t, map[string]string{
		"demo/lab.md":    cliLab,
		"bad/lab.md":     "---\nid: bad\ntitle: Bad\nlevel: expert\n---\n## A {#a}\n```chek\ntrue\n```\n",
		"bad/lab.en.md":  "---\nid: bad\ntitle: Bad\n---\n## A {#b}\n",
		"demo/lab.en.md": "---\nid: demo\ntitle: Demo\n---\n## A {#a}\n",
	})
	code, out, _ := runCLI("lab", "lint", dir)
	if code != 1 {
		t.Errorf("lint of bad labs: exit %d, want 1", code)
	}
	for _, want := range []string{
		dir + "/bad/lab.md:4:8: level \"expert\": use beginner, intermediate, advanced",
		dir + "/bad/lab.md:7:4: unknown block role \"chek\": did you mean \"check\"?",
		dir + "/demo/lab.md:4:8: unknown image \"handson/other\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
	// -image names an image the server has; flags may follow the folders.
	code, out, _ = runCLI("lab", "lint", dir+"/demo", "-image", "handson/other:latest")
	if code != 0 {
		t.Errorf("lint of one lab's folder with -image: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI("lab", "lint"); code != 2 || !strings.Contains(errOut, "usage: handson lab lint") {
		t.Errorf("lint without folders: exit %d, %q", code, errOut)
	}
}

func TestLabTestUsage(t *testing.T) {
	if code, _, _ := runCLI("lab", "test"); code != 2 {
		t.Errorf("lab test without folders: exit %d, want 2", code)
	}
	if code, _, _ := runCLI("lab", "test", "-bogus", "../../labs"); code != 2 {
		t.Errorf("lab test with an unknown flag: exit %d, want 2", code)
	}
	if code, _, errOut := runCLI("lab", "test", "-step", "nope", "../../labs"); code != 2 || !strings.Contains(errOut, `no lab has a step "nope"`) {
		t.Errorf("lab test -step nope: exit %d, %q", code, errOut)
	}
	dir := writeLab(t, map[string]string{"x/lab.md": "---\nid: x\n---\n"})
	if code, out, _ := runCLI("lab", "test", dir); code != 1 || !strings.Contains(out, "nothing was tested") {
		t.Errorf("lab test of a lab with problems: exit %d\n%s", code, out)
	}
}

// TestWatchLabs: with -dev, an edit reaches the server; a broken edit
// keeps the last good course.
func TestWatchLabs(t *testing.T) {
	dir := writeLab(t, map[string]string{"demo/lab.md": strings.Replace(cliLab, "image: handson/other\n", "", 1)})
	course, err := content.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Course: course}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs labLog
	go watchLabs(ctx, dir, srv, slog.New(slog.NewTextHandler(&logs, nil)))

	title := func() string { return srv.CurrentCourse().Lab("demo").Primary.Title }
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s; log:\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(1100 * time.Millisecond) // a different modification time
	edited := strings.Replace(cliLab, "image: handson/other\n", "", 1)
	os.WriteFile(filepath.Join(dir, "demo/lab.md"), []byte(strings.Replace(edited, "title: Demo", "title: Edited", 1)), 0o644)
	wait("the edit served", func() bool { return title() == "Edited" })

	os.WriteFile(filepath.Join(dir, "demo/lab.md"), []byte("---\nid: demo\n---\n"), 0o644)
	wait("the problem logged", func() bool { return strings.Contains(logs.String(), "front matter has no title") })
	if title() != "Edited" {
		t.Errorf("a broken edit replaced the course: title %q", title())
	}
}

// labLog collects a log written from another goroutine.
type labLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *labLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *labLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// registryLab pushes to the classroom registry as lab test's student: the
// solve logs in with HANDSON_REGISTRY_TOKEN, which the check never gets.
const registryLab = "---\nid: push\ntitle: Push\n---\n## Push {#push}\n" +
	"```check\n" +
	"[ -n \"$HANDSON_USER\" ] || fail \"no HANDSON_USER\"\n" +
	"[ -z \"${HANDSON_REGISTRY_TOKEN:-}\" ] || fail \"a check got the registry token\"\n" +
	"docker --config /home/student/.docker pull \"$REGISTRY/$HANDSON_USER/hello:1\" || fail \"not pushed\"\n" +
	"```\n" +
	"```solve\n" +
	"[ -n \"$HANDSON_REGISTRY_TOKEN\" ]\n" +
	"echo \"$HANDSON_REGISTRY_TOKEN\" | docker login -u \"$HANDSON_USER\" --password-stdin \"$REGISTRY\"\n" +
	"docker tag busybox \"$REGISTRY/$HANDSON_USER/hello:1\"\n" +
	"docker push \"$REGISTRY/$HANDSON_USER/hello:1\"\n" +
	"docker rmi \"$REGISTRY/$HANDSON_USER/hello:1\"\n" +
	"```\n"

// TestLabTestRegistry: handson lab test runs the classroom registry with a
// test student, as the course's registry labs need.
func TestLabTestRegistry(t *testing.T) {
	testenv.RequireImage(t, testenv.RegistryImage)
	dir := writeLab(t, map[string]string{"push/lab.md": registryLab})
	code, out, errOut := runCLI("lab", "test", "-v", dir)
	if code != 0 || !strings.Contains(out, "ok   push") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
