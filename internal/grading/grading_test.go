package grading

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

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
		{"timeout", sandbox.Result{ExitCode: 124}, false, "The check did not finish within 7s."},
		{"truncated", sandbox.Result{ExitCode: 2, Output: []byte("x"), Truncated: true}, false, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &sandboxtest.Fake{Answer: func(sandbox.Command) (*sandbox.Result, error) { return &tc.res, nil }}
			g := &Grader{Engine: fake, Timeout: 7 * time.Second}
			r, err := g.Check(context.Background(), &sandbox.Sandbox{ID: "x"}, "test -e /x || fail nope", "HANDSON_LANG=ja")
			if err != nil {
				t.Fatal(err)
			}
			if r.Passed != tc.wantPassed || r.Message != tc.wantMessage || r.ExitCode != tc.res.ExitCode {
				t.Errorf("got passed=%v message=%q exit=%d; want %v %q", r.Passed, r.Message, r.ExitCode, tc.wantPassed, tc.wantMessage)
			}
			cmd := fake.Commands[0]
			if !slices.Contains(cmd.Env, "HANDSON_LANG=ja") || !slices.Contains(cmd.Env, "HANDSON_CHECK=1") {
				t.Errorf("env = %q, want HANDSON_CHECK and the caller's HANDSON_LANG", cmd.Env)
			}
			if cmd.User != "root" {
				t.Errorf("check runs as %q, want root (the student cannot tamper with it)", cmd.User)
			}
			if !slices.Equal(cmd.Cmd[:4], []string{"timeout", "-k", "2", "7"}) {
				t.Errorf("command %q does not start with the timeout", cmd.Cmd)
			}
			script := cmd.Cmd[len(cmd.Cmd)-1]
			if !strings.HasPrefix(script, Helpers) || !strings.HasSuffix(script, "fail nope") {
				t.Errorf("script = %q, want helpers then the check", script)
			}
		})
	}
}
