package labrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"handson/content"
	"handson/internal/sandbox"
	"handson/internal/sandbox/sandboxtest"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name        string
		res         sandbox.Result
		wantPassed  bool
		wantMessage string
	}{
		{"pass", sandbox.Result{ExitCode: 0}, true, ""},
		{"fail with reason", sandbox.Result{ExitCode: 1, Output: []byte("noise\nコンテナがありません\n")}, false, "コンテナがありません"},
		{"timeout", sandbox.Result{ExitCode: 124}, false, "チェックが 7秒 以内に終わりませんでした。"},
		{"truncated", sandbox.Result{ExitCode: 2, Output: []byte("x"), Truncated: true}, false, "x"},
		{"message", sandbox.Result{ExitCode: 1, Output: []byte("nope\tweb 1\n")}, false, "web 1 がありません"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &sandboxtest.Fake{Answer: func(sandbox.Command) (*sandbox.Result, error) { return &tc.res, nil }}
			g := &Runner{Exec: fake, CheckTimeout: 7 * time.Second}
			lab := &content.Lab{Lang: "ja"}
			r, err := g.Check(context.Background(), &sandbox.Sandbox{ID: "x"}, lab, &content.Step{Check: "test -e /x || fail nope", Messages: content.Messages{"nope": "{1} がありません"}}, "HANDSON_USER=alice")
			if err != nil {
				t.Fatal(err)
			}
			if r.Passed != tc.wantPassed || r.Message != tc.wantMessage || r.ExitCode != tc.res.ExitCode {
				t.Errorf("got passed=%v message=%q exit=%d; want %v %q", r.Passed, r.Message, r.ExitCode, tc.wantPassed, tc.wantMessage)
			}
			cmd := fake.Commands[0]
			if !slices.Contains(cmd.Env, "HANDSON_LANG=ja") || !slices.Contains(cmd.Env, "HANDSON_CHECK=1") || !slices.Contains(cmd.Env, "HANDSON_USER=alice") {
				t.Errorf("env = %q, want HANDSON_CHECK, the lab's HANDSON_LANG and the caller's HANDSON_USER", cmd.Env)
			}
			if cmd.User != "root" {
				t.Errorf("check runs as %q, want root (the student cannot tamper with it)", cmd.User)
			}
			if !slices.Equal(cmd.Cmd[:4], []string{"timeout", "-k", "2", "7"}) {
				t.Errorf("command %q does not start with the timeout", cmd.Cmd)
			}
			script := ScriptOf(cmd)
			if strings.Contains(strings.Join(cmd.Cmd, " "), "fail nope") {
				t.Errorf("the check is on the command line, which every user of the sandbox can read: %q", cmd.Cmd)
			}
			if !strings.HasPrefix(script, Helpers) || !strings.HasSuffix(script, "fail nope") {
				t.Errorf("script = %q, want helpers then the check", script)
			}
		})
	}
}

// TestHelpers runs the check helpers in bash: a message key's words reach
// the student whole, and plain reasons read as they were written.
func TestHelpers(t *testing.T) {
	msgs := content.Messages{"not-running": "{1} is not running ({2})"}
	for script, want := range map[string]string{
		`fail not-running "my web" "exit 1"`: "my web is not running (exit 1)",
		`fail "There is no web"`:             "There is no web",
		`fail There is no web`:               "There is no web",
		`pass not-running a b`:               "a is not running (b)",
		`fail not-running "web" ""`:          "web is not running ()",
		"echo noise\nfail not-running web":   "web is not running ({2})",
	} {
		cmd := exec.Command("bash", "-c", runScript)
		cmd.Env = append(os.Environ(), scriptVar+Helpers+script)
		out, _ := cmd.Output()
		if got := msgs.Say(lastLine(string(out))); got != want {
			t.Errorf("%s: student reads %q, want %q", script, got, want)
		}
	}
}

// TestScriptIsHidden: a script is on no command line, and what it starts
// does not inherit it.
func TestScriptIsHidden(t *testing.T) {
	cmd := exec.Command("bash", "-c", runScript)
	cmd.Env = append(os.Environ(), scriptVar+"# the answer is 42\ntr '\\0' ' ' </proc/$$/cmdline; echo; env | grep -c HANDSON_SCRIPT")
	out, _ := cmd.Output()
	if strings.Contains(string(out), "answer is 42") || !strings.HasSuffix(string(out), "\n0\n") {
		t.Errorf("the script's command line and its children's environment: %q; want neither to hold the script", out)
	}
}

func TestScriptCommands(t *testing.T) {
	fake := &sandboxtest.Fake{}
	sb := &sandbox.Sandbox{ID: "x"}
	r := &Runner{Exec: fake, ScriptTimeout: 90 * time.Second}
	if _, err := r.Solve(context.Background(), sb, "echo hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Setup(context.Background(), sb, "echo hi"); err != nil {
		t.Fatal(err)
	}
	solve, setup := fake.Commands[0], fake.Commands[1]
	if got := strings.Join(solve.Cmd[:7], " "); got != "timeout -k 2 90 bash -l -c" || solve.User != "" {
		t.Errorf("solve runs %q as %q; want a login shell as the student under timeout", got, solve.User)
	}
	if got := strings.Join(setup.Cmd[:6], " "); got != "timeout -k 2 90 bash -c" || setup.User != "root" {
		t.Errorf("setup runs %q as %q", got, setup.User)
	}
	if !strings.HasSuffix(ScriptOf(solve), "set -e\necho hi") || solve.Timeout <= 90*time.Second {
		t.Errorf("solve = %+v", solve)
	}
}

func TestCopyAssets(t *testing.T) {
	big := make([]byte, 3<<20) // several commands' worth
	rand.New(rand.NewSource(1)).Read(big)
	assets := fstest.MapFS{
		"app/greeting.txt": {Data: []byte("こんにちは\n"), Mode: 0o444},
		"app/run.sh":       {Data: []byte("#!/bin/sh\n"), Mode: 0o555},
		"data/big.bin":     {Data: big, Mode: 0o600},
		"empty":            {Mode: fs.ModeDir | 0o500},
	}
	var archive strings.Builder
	var tmp string
	fake := &sandboxtest.Fake{Answer: func(cmd sandbox.Command) (*sandbox.Result, error) {
		if cmd.User != "" {
			t.Errorf("asset command runs as %q, want the student", cmd.User)
		}
		if strings.Contains(cmd.Cmd[2], "printf") {
			tmp = cmd.Cmd[4]
			for _, a := range cmd.Cmd[5:] {
				if len(a) > 128<<10 {
					t.Errorf("argument of %d bytes: Linux allows 128 KiB", len(a))
				}
				archive.WriteString(a)
			}
		} else if !strings.Contains(cmd.Cmd[2], "tar -xzf - -C /home/student") || cmd.Cmd[4] != tmp {
			t.Errorf("unexpected command %q", cmd.Cmd)
		}
		return &sandbox.Result{}, nil
	}}
	if err := (&Runner{Exec: fake}).CopyAssets(context.Background(), &sandbox.Sandbox{ID: "x"}, assets); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Commands); n < 3 {
		t.Errorf("%d commands: 3 MiB should take several", n)
	}
	raw, err := base64.StdEncoding.DecodeString(archive.String())
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Mode
		if h.Name == "data/big.bin" {
			data, _ := io.ReadAll(tr)
			if !bytes.Equal(data, big) {
				t.Error("big.bin changed on the way")
			}
		}
	}
	want := map[string]int64{"app/": 0o755, "app/greeting.txt": 0o644, "app/run.sh": 0o755, "data/": 0o755, "data/big.bin": 0o644, "empty/": 0o755}
	for name, mode := range want {
		if got[name] != mode {
			t.Errorf("%s: mode %o, want %o (all: %v)", name, got[name], mode, got)
		}
	}
}

func TestSpec(t *testing.T) {
	r := &Runner{Base: sandbox.Spec{Image: "base", Limits: sandbox.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512, OpenFiles: 8192}}}
	lab := &content.Lab{Image: "other", Resources: content.Resources{MemoryBytes: 2 << 30, Pids: 1024}}
	want := sandbox.Spec{Image: "other", Limits: sandbox.Limits{MemoryBytes: 2 << 30, CPUs: 1, Pids: 1024, OpenFiles: 8192}}
	if got := r.Spec(lab); got != want {
		t.Errorf("Spec = %+v, want %+v", got, want)
	}
	if r.Spec(&content.Lab{}) != r.Base {
		t.Error("a lab without settings changed the platform's spec")
	}
}
