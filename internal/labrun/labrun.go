// Package labrun runs a lab in a sandbox: the sandbox the lab needs (its
// image and resources over the platform's), its preparation (assets, then
// setup), and its steps' scripts: setup and solve, and the check, which it
// judges. The server and `handson lab test` both run labs through it, so a
// lab behaves the same for a student and for its author.
package labrun

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"handson/content"
	"handson/internal/i18n"
	"handson/internal/sandbox"
)

// Execer runs a command in a sandbox: the sandbox manager (the server's
// door to sandboxes), or an engine.
type Execer interface {
	Exec(ctx context.Context, sb *sandbox.Sandbox, cmd sandbox.Command) (*sandbox.Result, error)
}

// Defaults of a Runner.
const (
	DefaultCheckTimeout  = 30 * time.Second
	DefaultScriptTimeout = 5 * time.Minute
)

// Runner runs labs' scripts in sandboxes.
type Runner struct {
	Exec Execer
	// Base is the platform's sandbox; a lab may name its own image and
	// resources.
	Base          sandbox.Spec
	CheckTimeout  time.Duration // a check's limit; DefaultCheckTimeout if 0
	ScriptTimeout time.Duration // a setup's or solve's; DefaultScriptTimeout if 0
}

// Spec is the sandbox lab runs in: its image and resources over Base.
func (r *Runner) Spec(lab *content.Lab) sandbox.Spec {
	spec := r.Base
	if lab.Image != "" {
		spec.Image = lab.Image
	}
	if res := lab.Resources; res.MemoryBytes > 0 {
		spec.Limits.MemoryBytes = res.MemoryBytes
	}
	if res := lab.Resources; res.CPUs > 0 {
		spec.Limits.CPUs = res.CPUs
	}
	if res := lab.Resources; res.Pids > 0 {
		spec.Limits.Pids = res.Pids
	}
	return spec
}

// Prepare readies a new sandbox for a lab: it copies the lab's assets into
// the student's home, then runs the lab's setup as root.
func (r *Runner) Prepare(ctx context.Context, sb *sandbox.Sandbox, entry *content.Entry) error {
	if entry.Assets != nil {
		if err := r.CopyAssets(ctx, sb, entry.Assets); err != nil {
			return fmt.Errorf("copy assets: %w", err)
		}
	}
	if entry.Primary.Setup == "" {
		return nil
	}
	res, err := r.Setup(ctx, sb, entry.Primary.Setup)
	if err != nil {
		return fmt.Errorf("lab setup: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("lab setup failed (exit %d): %s", res.ExitCode, strings.TrimSpace(string(res.Output)))
	}
	return nil
}

// Setup runs a lab's or a step's setup as root.
func (r *Runner) Setup(ctx context.Context, sb *sandbox.Sandbox, script string, env ...string) (*sandbox.Result, error) {
	return r.script(ctx, sb, "root", script, env...)
}

// Solve runs a step's solve as the student, in a login shell like the
// terminal's.
func (r *Runner) Solve(ctx context.Context, sb *sandbox.Sandbox, script string, env ...string) (*sandbox.Result, error) {
	return r.script(ctx, sb, "", script, env...)
}

// ScriptLimit is the limit of setups and solves.
func (r *Runner) ScriptLimit() time.Duration {
	if r.ScriptTimeout > 0 {
		return r.ScriptTimeout
	}
	return DefaultScriptTimeout
}

// script runs script as user ("root", or "" for the student in a login
// shell) in the student's home, with `set -e`: it stops at the first
// command that fails. timeout inside the sandbox ends the script itself.
func (r *Runner) script(ctx context.Context, sb *sandbox.Sandbox, user, script string, env ...string) (*sandbox.Result, error) {
	limit := r.ScriptLimit()
	shell := []string{"bash", "-c"}
	if user == "" {
		shell = []string{"bash", "-l", "-c"}
	}
	cmd := []string{"timeout", "-k", "2", strconv.Itoa(max(1, int(limit.Seconds())))}
	cmd = append(cmd, shell...)
	cmd = append(cmd, runScript)
	env = append(env, scriptVar+"cd /home/student\nset -e\n"+script)
	return r.Exec.Exec(ctx, sb, sandbox.Command{Cmd: cmd, User: user, Env: env, Timeout: limit + 10*time.Second})
}

// Scripts reach bash in an environment variable, not on its command line:
// any process's command line is readable by every user of the sandbox
// (ps, /proc/PID/cmdline), so a student could read a check, or a setup's
// answer key, while it runs. A root process's environment is readable by
// root alone, and bash unsets the variable before the script runs, so no
// command it starts (as the student, say) inherits it.
const (
	scriptVar = "HANDSON_SCRIPT="
	runScript = `s=$HANDSON_SCRIPT; unset HANDSON_SCRIPT; eval "$s"`
)

// ScriptOf is the script a command made here runs (for tests of callers).
func ScriptOf(cmd sandbox.Command) string {
	for _, e := range cmd.Env {
		if s, ok := strings.CutPrefix(e, scriptVar); ok {
			return s
		}
	}
	return ""
}

// Helpers are defined for every check script. fail prints its reason, which
// the student sees, and stops the check. Both join their words with tabs,
// so that a message key's words keep their spaces (see content.Messages.Say).
const Helpers = `fail() { local IFS=$'\t'; printf '%s\n' "$*"; exit 1; }
pass() { local IFS=$'\t'; [ $# -gt 0 ] && printf '%s\n' "$*"; exit 0; }
`

// ExitTimeout is what coreutils' timeout returns when it had to stop a script.
const ExitTimeout = 124

// Result is the verdict on one run of a check.
type Result struct {
	Passed   bool
	ExitCode int
	Message  string // for the student: the reason given to fail, or the last line printed
	Output   string // everything the script printed, kept as evidence
	Duration time.Duration
}

// Check runs step's check of lab as root in sb (the student's shell is
// unprivileged, so the student cannot tamper with it), non-interactively,
// with a timeout, and judges it. Checks are written once for all
// languages: they name one of the step's messages, which the student reads
// in lab's language (HANDSON_LANG is set for checks that choose for
// themselves). env adds variables (HANDSON_USER, the student's registry
// namespace).
func (r *Runner) Check(ctx context.Context, sb *sandbox.Sandbox, lab *content.Lab, step *content.Step, env ...string) (*Result, error) {
	timeout := r.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	secs := strconv.Itoa(int(timeout.Seconds()))
	res, err := r.Exec.Exec(ctx, sb, sandbox.Command{
		// timeout inside the sandbox kills the script itself, not only our wait for it.
		Cmd:     []string{"timeout", "-k", "2", secs, "bash", "-c", runScript},
		User:    "root",
		Env:     append(append([]string{"HANDSON_CHECK=1", "HANDSON_LANG=" + lab.Lang}, env...), scriptVar+Helpers+step.Check),
		Timeout: timeout + 5*time.Second,
	})
	if err != nil {
		return nil, err
	}
	out := string(res.Output)
	v := &Result{Passed: res.ExitCode == 0, ExitCode: res.ExitCode, Output: out, Duration: res.Duration, Message: step.Messages.Say(lastLine(out))}
	if res.Truncated {
		v.Output += "\n[output cut]"
	}
	if res.ExitCode == ExitTimeout {
		v.Message = i18n.T(lab.Lang, "check.timeout", timeout)
	}
	return v, nil
}

// lastLine is the last line s has. Only spaces and line ends are trimmed:
// a tab ends a message's last word, which may be empty.
func lastLine(s string) string {
	s = strings.TrimRight(s, " \r\n")
	return strings.Trim(s[strings.LastIndexByte(s, '\n')+1:], " \r")
}
