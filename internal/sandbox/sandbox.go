// Package sandbox defines the student's sandbox: a container with its own
// Docker daemon, one per (user, lab). Engines (Docker today, Kubernetes
// later) implement Engine; nothing above this interface speaks Docker.
package sandbox

import (
	"context"
	"io"
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
	Waiting  Phase = "waiting for Docker"
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

// Engine runs sandboxes.
type Engine interface {
	// Ensure returns the sandbox for key, creating, starting or waiting for
	// it as needed; it returns only once the sandbox's own Docker answers.
	Ensure(ctx context.Context, key Key, spec Spec, progress func(Phase)) (*Sandbox, error)
	// Exec runs a command to completion.
	Exec(ctx context.Context, sb *Sandbox, cmd Command) (*Result, error)
	// Shell opens a login shell for the student on a TTY of the given size.
	Shell(ctx context.Context, sb *Sandbox, cols, rows uint) (TTY, error)
	// Remove deletes the sandbox and everything it owns.
	Remove(ctx context.Context, key Key) error
}
