// Package sandboxtest is a fake sandbox.Engine for unit tests of the layers
// above the engine: commands get programmed answers, and shells are local
// processes on a real pty.
package sandboxtest

import (
	"context"
	"os"
	"os/exec"
	"sync"

	"github.com/creack/pty"

	"handson/internal/sandbox"
)

// Fake records what was asked of it.
type Fake struct {
	// Answer answers every Exec; nil answers exit 0 with no output.
	Answer func(cmd sandbox.Command) (*sandbox.Result, error)
	// ShellCmd is the local command a Shell runs; default /bin/sh.
	ShellCmd []string

	mu       sync.Mutex
	Ensured  []sandbox.Key
	Commands []sandbox.Command
	Removed  []sandbox.Key
}

var _ sandbox.Engine = (*Fake)(nil)

func (f *Fake) Ensure(ctx context.Context, key sandbox.Key, spec sandbox.Spec, progress func(sandbox.Phase)) (*sandbox.Sandbox, error) {
	f.mu.Lock()
	f.Ensured = append(f.Ensured, key)
	f.mu.Unlock()
	if progress != nil {
		for _, p := range []sandbox.Phase{sandbox.Creating, sandbox.Starting, sandbox.Waiting, sandbox.Ready} {
			progress(p)
		}
	}
	return &sandbox.Sandbox{ID: "fake", Name: "fake", Key: key}, nil
}

func (f *Fake) Exec(ctx context.Context, sb *sandbox.Sandbox, cmd sandbox.Command) (*sandbox.Result, error) {
	f.mu.Lock()
	f.Commands = append(f.Commands, cmd)
	f.mu.Unlock()
	if f.Answer == nil {
		return &sandbox.Result{}, nil
	}
	return f.Answer(cmd)
}

func (f *Fake) Shell(ctx context.Context, sb *sandbox.Sandbox, cols, rows uint) (sandbox.TTY, error) {
	argv := f.ShellCmd
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), "PS1=$ ", "TERM=xterm")
	p, err := pty.StartWithSize(c, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, err
	}
	return &PTY{File: p, Cmd: c}, nil
}

func (f *Fake) Remove(ctx context.Context, key sandbox.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Removed = append(f.Removed, key)
	return nil
}

// PTY is a local process on a pseudo-terminal.
type PTY struct {
	*os.File
	Cmd *exec.Cmd
}

func (p *PTY) Resize(cols, rows uint) error {
	return pty.Setsize(p.File, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

func (p *PTY) Close() error {
	p.Cmd.Process.Kill()
	err := p.File.Close()
	p.Cmd.Wait()
	return err
}
