// Package sandbox defines the student's sandbox: a container with its own
// Docker daemon, one per (user, lab). Engines (Docker today, Kubernetes
// later) implement Engine; nothing above this interface speaks Docker.
package sandbox

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"time"
)

// Key names a sandbox: one per user and lab.
type Key struct {
	UserID int64
	Lab    string
}

// Limits bound what one sandbox may use.
type Limits struct {
	MemoryBytes int64
	CPUs        float64
	Pids        int64
	OpenFiles   int64 // per process (RLIMIT_NOFILE)
}

// Spec says what to start.
type Spec struct {
	Image  string
	Limits Limits
}

// Sandbox is a running sandbox.
type Sandbox struct {
	ID   string // engine-specific handle
	Name string
	Key  Key
}

// Phase is a step of bringing a sandbox up, shown to the student.
type Phase string

// Phases of Ensure, in order.
const (
	Creating Phase = "creating"
	Starting Phase = "starting"
	Waiting  Phase = "waiting"
	Ready    Phase = "ready"
)

// Command is a non-interactive process to run in a sandbox.
type Command struct {
	Cmd     []string
	User    string // "root" or "" for the student
	Env     []string
	Timeout time.Duration
}

// Result is what a Command did. Output holds stdout and stderr interleaved,
// cut at a limit so a noisy script cannot fill memory or the database.
type Result struct {
	ExitCode  int
	Output    []byte
	Truncated bool
	Duration  time.Duration
}

// TTY is an interactive shell in a sandbox.
type TTY interface {
	io.ReadWriteCloser
	Resize(cols, rows uint) error
}

// State is whether a sandbox runs.
type State string

// States a sandbox can be in.
const (
	Running State = "running"
	Stopped State = "stopped" // its files are kept; Ensure starts it again
	Missing State = "missing"
)

// ErrProcessesFull is what Probe answers for a sandbox whose process table
// is (nearly) full: a fork bomb may leave it answering, slowly, with a CPU
// busy for good.
var ErrProcessesFull = errors.New("process table nearly full")

// ErrSlow is what Probe answers for a sandbox that runs and can run
// programs but whose own Docker did not answer in time: starting, or slow
// on a busy host. Its init restarts a dockerd that dies; restarting the
// sandbox would only lose the student's shell.
var ErrSlow = errors.New("the sandbox's Docker is slow to answer")

// BrokenError says a sandbox's own Docker cannot start for a cause that
// restarting the sandbox does not fix (a device the host keeps from it, a
// daemon that dies at once): WaitReady and Probe answer it at once instead
// of waiting, and the manager does not restart the sandbox in a loop.
type BrokenError struct {
	Cause string // what the sandbox found, in English, for operators
}

func (e *BrokenError) Error() string { return "the sandbox's Docker cannot start: " + e.Cause }

// ErrNotRunning is what Addr answers for a sandbox that is stopped or missing.
var ErrNotRunning = errors.New("sandbox is not running")

// Status is what an engine knows of one sandbox.
type Status struct {
	Key       Key
	Name      string
	State     State
	OOMKilled bool      // the kernel killed its main process for memory
	Created   time.Time // zero when missing
	DiskBytes int64     // bytes written into the sandbox; -1 when not measured
	Warm      bool      // a warm sandbox nobody owns yet (Key has only the lab)
}

// Capacity is what an engine's machine can still take.
type Capacity struct {
	Available  int64 // bytes of memory it can still give
	PerSandbox int64 // bytes a running sandbox uses, on average; 0 when none runs or it cannot say
	Running    int   // sandboxes that average is over
}

// Record is what the platform keeps of a sandbox across its own restarts.
type Record struct {
	Key        Key
	State      State // Running or Stopped: what the platform last made it
	Created    time.Time
	LastActive time.Time // last keystroke or check
}

// Records keeps every sandbox's Record (the store implements it).
type Records interface {
	SaveSandbox(ctx context.Context, r Record) error
	Sandboxes(ctx context.Context) ([]Record, error)
	DeleteSandbox(ctx context.Context, key Key) error
	TouchSandboxes(ctx context.Context, active map[Key]time.Time) error
}

// Engine runs sandboxes.
type Engine interface {
	// Ensure returns the sandbox for key, creating or starting it as
	// needed; it returns once the sandbox runs, so a shell can open while
	// the sandbox's own Docker is still starting.
	Ensure(ctx context.Context, key Key, spec Spec, progress func(Phase)) (*Sandbox, error)
	// WaitReady returns once the sandbox is ready for the student, or a
	// *BrokenError as soon as the sandbox knows it never will be. Its own
	// Docker starts on first use: the most of a start that a class
	// opening a lab together need not pay before its prompts.
	WaitReady(ctx context.Context, sb *Sandbox) error
	// StartDocker starts the sandbox's own Docker now, not on its first
	// use (a sandbox made ahead of its student), and returns once it
	// answers.
	StartDocker(ctx context.Context, sb *Sandbox) error
	// Exec runs a command to completion.
	Exec(ctx context.Context, sb *Sandbox, cmd Command) (*Result, error)
	// Shell opens a login shell for the student on a TTY of the given
	// size; env ("NAME=value") is added to its environment.
	Shell(ctx context.Context, sb *Sandbox, cols, rows uint, env ...string) (TTY, error)
	// Probe reports whether a running sandbox answers (its own Docker
	// included, once started) within a short time: ErrSlow when it runs
	// programs but its Docker did not answer, ErrProcessesFull, a
	// *BrokenError when its Docker never will, another error when nothing
	// runs in it any more.
	Probe(ctx context.Context, key Key) error
	// Stop stops the sandbox and keeps its files, so Ensure resumes it.
	Stop(ctx context.Context, key Key) error
	// Restart kills and starts a sandbox that stopped answering, and
	// returns once it is ready.
	Restart(ctx context.Context, key Key) error
	// Remove deletes the sandbox and everything it owns.
	Remove(ctx context.Context, key Key) error
	// Status reports one sandbox; disk asks for its disk usage (costly).
	Status(ctx context.Context, key Key, disk bool) (*Status, error)
	// Addr is the address at which the platform reaches what listens in
	// a running sandbox (the web preview), or ErrNotRunning.
	Addr(ctx context.Context, key Key) (netip.Addr, error)
	// Capacity says how much memory the machine that runs sandboxes can
	// still give, and what a running sandbox uses.
	Capacity(ctx context.Context) (Capacity, error)
	// List reports every sandbox this installation owns.
	List(ctx context.Context) ([]Status, error)
	// Prune removes what sandboxes left behind (networks of removed ones).
	Prune(ctx context.Context) error

	// Warm makes a ready sandbox for lab (its Docker started) that nobody
	// owns yet and returns its handle; Claim hands it to key; Discard
	// removes it.
	Warm(ctx context.Context, lab string, spec Spec) (string, error)
	Claim(ctx context.Context, warm string, key Key) (*Sandbox, error)
	Discard(ctx context.Context, warm string) error
}
