// Package grading runs a step's check script in a sandbox and judges it.
package grading

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"handson/internal/sandbox"
)

// Helpers are defined for every check script. fail prints its reason, which
// the student sees, and stops the check.
const Helpers = `fail() { printf '%s\n' "$*"; exit 1; }
pass() { [ $# -gt 0 ] && printf '%s\n' "$*"; exit 0; }
`

// DefaultTimeout bounds a check that does not say otherwise.
const DefaultTimeout = 30 * time.Second

// exitTimeout is what coreutils' timeout returns when it had to stop the script.
const exitTimeout = 124

// Result is the verdict on one run of a check.
type Result struct {
	Passed   bool
	ExitCode int
	Message  string // for the student: the reason given to fail, or the last line printed
	Output   string // everything the script printed, kept as evidence
	Duration time.Duration
}

// Grader runs checks.
type Grader struct {
	Engine  sandbox.Engine
	Timeout time.Duration
}

// Check runs script as root in sb (the student's shell is unprivileged, so
// the student cannot tamper with it), non-interactively, with a timeout.
// env adds variables, such as HANDSON_LANG, the reader's language.
func (g *Grader) Check(ctx context.Context, sb *sandbox.Sandbox, script string, env ...string) (*Result, error) {
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	secs := strconv.Itoa(int(timeout.Seconds()))
	res, err := g.Engine.Exec(ctx, sb, sandbox.Command{
		// timeout inside the sandbox kills the script itself, not only our wait for it.
		Cmd:     []string{"timeout", "-k", "2", secs, "bash", "-c", Helpers + script},
		User:    "root",
		Env:     append([]string{"HANDSON_CHECK=1"}, env...),
		Timeout: timeout + 5*time.Second,
	})
	if err != nil {
		return nil, err
	}
	out := string(res.Output)
	r := &Result{Passed: res.ExitCode == 0, ExitCode: res.ExitCode, Output: out, Duration: res.Duration, Message: lastLine(out)}
	if res.Truncated {
		r.Output += "\n[output cut]"
	}
	if res.ExitCode == exitTimeout {
		r.Message = fmt.Sprintf("The check did not finish within %s.", timeout)
	}
	return r, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
