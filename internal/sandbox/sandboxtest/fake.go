// Package sandboxtest is a fake sandbox.Engine for unit tests of the layers
// above the engine: commands get programmed answers, and shells are local
// processes on a real pty.
package sandboxtest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/creack/pty"

	"handson/internal/sandbox"
)

// Fake records what was asked of it.
type Fake struct {
	// Answer answers every Exec; nil answers exit 0 with no output.
	Answer func(cmd sandbox.Command) (*sandbox.Result, error)
	// ShellCmd is the local command a Shell runs; default /bin/sh.
	ShellCmd []string

	mu        sync.Mutex
	Ensured   []sandbox.Key
	Commands  []sandbox.Command
	Removed   []sandbox.Key
	Stopped   []sandbox.Key
	Restarted []sandbox.Key
	States    map[sandbox.Key]*sandbox.Status // what Status and List report
	ProbeErr  error                           // what Probe answers
	Probed    []sandbox.Key                   // every Probe, in order
	Waited    int                             // WaitReady calls
	Gate      chan struct{}                   // when set, Ensure waits for it
	Memory    *sandbox.Capacity               // what Capacity answers; nil: plenty

	probeGate                     chan struct{} // HoldProbes
	warmed                        int
	WarmNames, Claimed, Discarded []string
}

var _ sandbox.Engine = (*Fake)(nil)

func (f *Fake) Ensure(ctx context.Context, key sandbox.Key, spec sandbox.Spec, progress func(sandbox.Phase)) (*sandbox.Sandbox, error) {
	if f.Gate != nil {
		select {
		case <-f.Gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	f.Ensured = append(f.Ensured, key)
	st := f.state(key)
	if st.State == sandbox.Missing {
		st.Created = time.Now()
	}
	st.State = sandbox.Running
	f.mu.Unlock()
	if progress != nil {
		progress(sandbox.Creating)
		progress(sandbox.Starting)
	}
	return &sandbox.Sandbox{ID: "fake", Name: "fake", Key: key}, nil
}

// WaitReady answers at once, or with ProbeErr.
func (f *Fake) WaitReady(ctx context.Context, sb *sandbox.Sandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Waited++
	return f.ProbeErr
}

// Waits says how many times WaitReady was called.
func (f *Fake) Waits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Waited
}

// StartDocker answers at once, or with ProbeErr.
func (f *Fake) StartDocker(ctx context.Context, sb *sandbox.Sandbox) error {
	return f.WaitReady(ctx, sb)
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

func (f *Fake) Shell(ctx context.Context, sb *sandbox.Sandbox, cols, rows uint, env ...string) (sandbox.TTY, error) {
	argv := f.ShellCmd
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(append(os.Environ(), "PS1=$ ", "TERM=xterm"), env...)
	p, err := pty.StartWithSize(c, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, err
	}
	return &PTY{File: p, Cmd: c}, nil
}

// state returns key's status, making a missing one; f.mu is held.
func (f *Fake) state(key sandbox.Key) *sandbox.Status {
	if f.States == nil {
		f.States = map[sandbox.Key]*sandbox.Status{}
	}
	st, ok := f.States[key]
	if !ok {
		st = &sandbox.Status{Key: key, Name: "fake", State: sandbox.Missing, DiskBytes: -1}
		f.States[key] = st
	}
	return st
}

// Set changes what the fake reports of key.
func (f *Fake) Set(key sandbox.Key, change func(*sandbox.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.state(key))
}

func (f *Fake) Stop(ctx context.Context, key sandbox.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Stopped = append(f.Stopped, key)
	if st := f.state(key); st.State == sandbox.Running {
		st.State = sandbox.Stopped
	}
	return nil
}

func (f *Fake) Restart(ctx context.Context, key sandbox.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Restarted = append(f.Restarted, key)
	st := f.state(key)
	st.State, st.OOMKilled = sandbox.Running, false
	return nil
}

func (f *Fake) Remove(ctx context.Context, key sandbox.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Removed = append(f.Removed, key)
	delete(f.States, key)
	return nil
}

func (f *Fake) Status(ctx context.Context, key sandbox.Key, disk bool) (*sandbox.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := *f.state(key)
	return &st, nil
}

func (f *Fake) List(ctx context.Context) ([]sandbox.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sandbox.Status
	for _, st := range f.States {
		if st.State != sandbox.Missing {
			out = append(out, *st)
		}
	}
	return out, nil
}

func (f *Fake) Prune(ctx context.Context) error { return nil }

// Addr is the loopback address while the sandbox runs: tests serve
// "sandbox" services on 127.0.0.1.
func (f *Fake) Addr(ctx context.Context, key sandbox.Key) (netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state(key).State != sandbox.Running {
		return netip.Addr{}, sandbox.ErrNotRunning
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
}

// Probe fails while ProbeErr is set.
func (f *Fake) Probe(ctx context.Context, key sandbox.Key) error {
	f.mu.Lock()
	f.Probed = append(f.Probed, key)
	err, gate := f.ProbeErr, f.probeGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return err
}

// HoldProbes makes the Probes that start from now wait for gate, then
// answer what they found on entry (nil gate: none wait).
func (f *Fake) HoldProbes(gate chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probeGate = gate
}

// Probes returns a copy of the keys probed, in order.
func (f *Fake) Probes() []sandbox.Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Probed)
}

// Calls returns copies of what was asked, safe to read while the fake is used.
func (f *Fake) Calls() (ensured, stopped, restarted, removed []sandbox.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Ensured), slices.Clone(f.Stopped), slices.Clone(f.Restarted), slices.Clone(f.Removed)
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

// SetProbe makes Probe answer err (nil: healthy).
func (f *Fake) SetProbe(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ProbeErr = err
}

// Warm makes a fake warm sandbox.
func (f *Fake) Warm(ctx context.Context, lab string, spec sandbox.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warmed++
	name := fmt.Sprintf("warm-%s-%d", lab, f.warmed)
	f.WarmNames = append(f.WarmNames, name)
	return name, nil
}

// Claim gives key the warm sandbox: it runs from now on.
func (f *Fake) Claim(ctx context.Context, warm string, key sandbox.Key) (*sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Claimed = append(f.Claimed, warm)
	st := f.state(key)
	st.State, st.Created = sandbox.Running, time.Now()
	return &sandbox.Sandbox{ID: warm, Name: warm, Key: key}, nil
}

// Discard forgets a warm sandbox.
func (f *Fake) Discard(ctx context.Context, warm string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Discarded = append(f.Discarded, warm)
	return nil
}

// Warmed returns copies of the warm sandboxes made, claimed and discarded.
func (f *Fake) Warmed() (made, claimed, discarded []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.WarmNames), slices.Clone(f.Claimed), slices.Clone(f.Discarded)
}

// Capacity answers Memory, or a machine with memory to spare.
func (f *Fake) Capacity(ctx context.Context) (sandbox.Capacity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Memory == nil {
		return sandbox.Capacity{Available: 1 << 40}, nil
	}
	return *f.Memory, nil
}

// SetMemory makes Capacity answer c.
func (f *Fake) SetMemory(c sandbox.Capacity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Memory = &c
}
