// Package docker runs sandboxes as containers on a Docker Engine: each
// sandbox is an unprivileged container running a rootless dockerd for the
// student (see labs/images/README.md for the image's contract).
package docker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"handson/internal/apperr"
	"handson/internal/firewall"
	"handson/internal/sandbox"
)

// What the sandbox image provides (labs/images/sandbox).
const (
	studentUser  = "student"
	studentHome  = "/home/student"
	dockerHost   = "DOCKER_HOST=unix:///run/user/1000/docker.sock"
	readyCommand = "/usr/local/bin/handson-ready"
	readyFailed  = 3 // handson-ready's exit code for "failed: CAUSE"
	// initSays starts the init's verdicts on its output: "prepared", or
	// "failed: CAUSE".
	initSays = "handson-sandbox: "
)

// broken is the *sandbox.BrokenError of handson-ready's "failed: CAUSE".
func broken(output []byte) error {
	return &sandbox.BrokenError{Cause: strings.TrimPrefix(string(bytes.TrimSpace(output)), "failed: ")}
}

// Labels that mark what the platform owns, so a restarted server can find it.
const (
	LabelManaged  = "handson.managed"
	LabelInstance = "handson.instance"
	LabelUser     = "handson.user"
	LabelLab      = "handson.lab"
)

// cpuShares is a sandbox's CPU weight against the host's own processes
// (1024 each: Docker's daemons, which create sandboxes and run every exec,
// and the platform): when a class starts at once, the work that gives
// students their prompts goes before the sandboxes' own (their dockerds
// starting), which takes what is left. Sandboxes weigh the same among
// themselves.
const cpuShares = 256

// MaxOutput caps what Exec keeps of a command's output.
const MaxOutput = 64 << 10

// Engine is a sandbox.Engine on a Docker daemon.
type Engine struct {
	cli          *client.Client
	instance     string // this installation's id, in every name and label
	log          *slog.Logger
	readyTimeout time.Duration

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one per sandbox name: no double creation

	// SandboxHosts ("name:ip") and SandboxEnv ("NAME=value") are given to
	// every sandbox made from now on: the classroom registry's name and
	// address. Set them before the first sandbox is made. Nothing here may
	// be per user: a warm sandbox is made before anyone owns it.
	SandboxHosts []string
	SandboxEnv   []string
}

// New connects to the Docker daemon named by the environment (DOCKER_HOST,
// else the local socket) and checks that it answers. instance names this
// installation: it owns only sandboxes that carry it.
func New(ctx context.Context, instance string, log *slog.Logger) (*Engine, error) {
	if instance == "" {
		return nil, errors.New("docker engine: empty instance id")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker daemon does not answer (run scripts/host-setup.sh): %w", err)
	}
	if err := checkRemapped(ctx, cli); err != nil {
		cli.Close()
		return nil, err
	}
	return &Engine{cli: cli, instance: instance, log: log, readyTimeout: 90 * time.Second, locks: map[string]*sync.Mutex{}}, nil
}

// checkRemapped refuses a daemon without user-namespace remapping: there,
// root in a sandbox is root on the host, and the unmasked /proc rootless
// Docker needs lets it write host kernel settings (core_pattern: an escape).
func checkRemapped(ctx context.Context, cli *client.Client) error {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	for _, opt := range info.Info.SecurityOptions {
		if strings.Contains(opt, "name=userns") {
			return nil
		}
	}
	return errors.New(`the Docker daemon runs without user-namespace remapping, so root in a sandbox would be root on the host; set "userns-remap" in /etc/docker/daemon.json (scripts/host-setup.sh does) and restart dockerd`)
}

// Instance is the installation id in every name and label.
func (e *Engine) Instance() string { return e.instance }

// Close releases the client.
func (e *Engine) Close() error { return e.cli.Close() }

// CheckImage reports whether image exists on the daemon.
func (e *Engine) CheckImage(ctx context.Context, image string) error {
	if _, err := e.cli.ImageInspect(ctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("image %s is missing: build it with scripts/build-images.sh", image)
		}
		return err
	}
	return nil
}

// Name is the deterministic container (and network) name of a sandbox.
func (e *Engine) Name(k sandbox.Key) string {
	return "handson-" + e.instance + "-u" + strconv.FormatInt(k.UserID, 10) + "-" + k.Lab
}

// BridgePrefix starts the Linux bridge name of every sandbox network; the
// host firewall (internal/firewall) matches "-i hs-+".
const BridgePrefix = "hs-"

// Firewall is the host firewall for sandboxes: no host port reachable but
// the classroom registry's (registryPort; 0: none). Every handson on a host
// must ask for the same port: the rules are shared, and each would
// reinstall its own.
func Firewall(registryPort int) firewall.Rules {
	r := firewall.Rules{BridgePrefix: BridgePrefix}
	if registryPort > 0 {
		r.AllowedPorts = []int{registryPort}
	}
	return r
}

// bridgeName fits Linux's 15-character interface names.
func bridgeName(name string) string {
	h := sha256.Sum256([]byte(name))
	return BridgePrefix + hex.EncodeToString(h[:6])
}

func (e *Engine) lock(name string) func() {
	e.mu.Lock()
	l, ok := e.locks[name]
	if !ok {
		l = &sync.Mutex{}
		e.locks[name] = l
	}
	e.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Ensure implements sandbox.Engine.
func (e *Engine) Ensure(ctx context.Context, key sandbox.Key, spec sandbox.Spec, progress func(sandbox.Phase)) (*sandbox.Sandbox, error) {
	if progress == nil {
		progress = func(sandbox.Phase) {}
	}
	name := e.Name(key)
	defer e.lock(name)()

	info, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		progress(sandbox.Creating)
		if err := e.create(ctx, name, key.Lab, e.labels(key), spec); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	if err != nil || !info.Container.State.Running {
		progress(sandbox.Starting)
		if _, err := e.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	return &sandbox.Sandbox{ID: name, Name: name, Key: key}, nil
}

// labels mark a sandbox as this installation's, for key.
func (e *Engine) labels(key sandbox.Key) map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelInstance: e.instance,
		LabelUser:     strconv.FormatInt(key.UserID, 10),
		LabelLab:      key.Lab,
	}
}

// create makes a sandbox container named name, for lab, on a network of
// its own of the same name.
func (e *Engine) create(ctx context.Context, name, lab string, labels map[string]string, spec sandbox.Spec) error {
	if err := e.ensureNetwork(ctx, name, labels); err != nil {
		return err
	}
	init := true
	pids := spec.Limits.Pids
	_, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:    spec.Image,
			Hostname: lab,
			Labels:   labels,
			Env:      e.SandboxEnv,
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(name),
			ExtraHosts:  e.SandboxHosts,
			Init:        &init, // reaps zombies, so a fork bomb does not leave the pids limit full
			// Rootless dockerd needs user namespaces, mounts and a fresh
			// procfs (shared/notes/sandbox-isolation.md): Docker's default
			// seccomp profile plus exactly those syscalls, no AppArmor
			// (seccomp.go says why); no capability is added and nothing of
			// the host is mounted.
			SecurityOpt:   securityOpt,
			MaskedPaths:   []string{},
			ReadonlyPaths: []string{},
			LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
				"max-size": "1m", "max-file": "1",
			}},
			Resources: container.Resources{
				Memory:     spec.Limits.MemoryBytes,
				MemorySwap: spec.Limits.MemoryBytes, // no swap on top
				NanoCPUs:   int64(spec.Limits.CPUs * 1e9),
				CPUShares:  cpuShares,
				PidsLimit:  &pids,
				Ulimits:    []*container.Ulimit{{Name: "nofile", Soft: spec.Limits.OpenFiles, Hard: spec.Limits.OpenFiles}},
				Devices: []container.DeviceMapping{
					{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
					{PathOnHost: "/dev/net/tun", PathInContainer: "/dev/net/tun", CgroupPermissions: "rwm"},
				},
			},
		},
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return apperr.New(apperr.Unavailable, "sandbox.noimage", spec.Image)
		}
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// ensureNetwork gives every sandbox its own bridge, so sandboxes cannot
// reach each other; inter-container traffic is off even on the bridge.
func (e *Engine) ensureNetwork(ctx context.Context, name string, labels map[string]string) error {
	_, err := e.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: labels,
		Options: map[string]string{
			"com.docker.network.bridge.name":       bridgeName(name),
			"com.docker.network.bridge.enable_icc": "false",
		},
	})
	if err != nil && !cerrdefs.IsConflict(err) && !isAlreadyExists(err) {
		return fmt.Errorf("network %s: %w", name, err)
	}
	return nil
}

// isAlreadyExists covers daemons that answer a duplicate network name with
// a plain error rather than 409.
func isAlreadyExists(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("already exists"))
}

// WaitReady implements sandbox.Engine: it follows the sandbox's own
// output since it last started until its init says it is prepared, or
// failed and why. A log stream costs the host's daemons far less than an
// exec of the image's readiness probe (about 0.25 CPU-s, which a class
// starting at once pays once per student). The student's own dockerd
// starts on its first use (labs/images/README.md).
func (e *Engine) WaitReady(ctx context.Context, sb *sandbox.Sandbox) error {
	ctx, cancel := context.WithTimeout(ctx, e.readyTimeout)
	defer cancel()
	info, err := e.cli.ContainerInspect(ctx, sb.ID, client.ContainerInspectOptions{})
	if err != nil {
		return execError(sb, err)
	}
	st := info.Container.State
	if st == nil || !st.Running {
		return apperr.New(apperr.Unavailable, "sandbox.notrunning")
	}
	logs, err := e.cli.ContainerLogs(ctx, sb.ID, client.ContainerLogsOptions{ShowStdout: true, Follow: true, Since: st.StartedAt})
	if err != nil {
		return fmt.Errorf("logs of %s: %w", sb.Name, err)
	}
	defer logs.Close()
	out, in := io.Pipe()
	go func() { _, err := stdcopy.StdCopy(in, io.Discard, logs); in.CloseWithError(err) }()
	defer out.Close()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		verdict, ok := strings.CutPrefix(lines.Text(), initSays)
		switch {
		case !ok:
		case verdict == "prepared":
			return nil
		case strings.HasPrefix(verdict, "failed: "):
			return broken([]byte(verdict))
		}
	}
	if ctx.Err() != nil {
		e.log.Warn("sandbox not ready", "sandbox", sb.Name, "err", ctx.Err())
		return apperr.New(apperr.Unavailable, "sandbox.notready")
	}
	return apperr.New(apperr.Unavailable, "sandbox.notrunning") // its output ended: it stopped
}

// StartDocker implements sandbox.Engine: it asks the sandbox's init for
// the student's dockerd (handson-ready docker) and waits until it answers.
func (e *Engine) StartDocker(ctx context.Context, sb *sandbox.Sandbox) error {
	ctx, cancel := context.WithTimeout(ctx, e.readyTimeout)
	defer cancel()
	var last string
	for {
		res, err := e.Exec(ctx, sb, sandbox.Command{Cmd: []string{readyCommand, "docker", "20"}, User: "root", Timeout: 30 * time.Second})
		if err == nil && res.ExitCode == 0 {
			return nil
		}
		if err == nil && res.ExitCode == readyFailed {
			return broken(res.Output)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = string(bytes.TrimSpace(res.Output))
		}
		select {
		case <-ctx.Done():
			e.log.Warn("sandbox's Docker not ready", "sandbox", sb.Name, "last", last)
			return apperr.New(apperr.Unavailable, "sandbox.notready")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Exec implements sandbox.Engine.
func (e *Engine) Exec(ctx context.Context, sb *sandbox.Sandbox, cmd sandbox.Command) (*sandbox.Result, error) {
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
	}
	user := cmd.User
	if user == "" {
		user = studentUser
	}
	start := time.Now()
	created, err := e.cli.ExecCreate(ctx, sb.ID, client.ExecCreateOptions{
		User:         user,
		AttachStdout: true,
		AttachStderr: true,
		Env:          append([]string{dockerHost}, cmd.Env...),
		Cmd:          cmd.Cmd,
	})
	if err != nil {
		return nil, execError(sb, err)
	}
	att, err := e.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, execError(sb, err)
	}
	defer att.Close()
	// Close the stream when ctx ends, or a hung script would block the read.
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	out := &capped{max: MaxOutput}
	_, err = stdcopy.StdCopy(out, out, att.Reader)
	if ctx.Err() != nil {
		return nil, apperr.New(apperr.Unavailable, "sandbox.timeout", cmd.Timeout)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("exec in %s: %w", sb.Name, err)
	}
	insp, err := e.cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("exec inspect in %s: %w", sb.Name, err)
	}
	return &sandbox.Result{ExitCode: insp.ExitCode, Output: out.buf.Bytes(), Truncated: out.cut, Duration: time.Since(start)}, nil
}

func execError(sb *sandbox.Sandbox, err error) error {
	if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
		return apperr.New(apperr.Unavailable, "sandbox.notrunning")
	}
	return fmt.Errorf("exec in %s: %w", sb.Name, err)
}

// capped keeps the first max bytes written and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.cut = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// Shell implements sandbox.Engine.
func (e *Engine) Shell(ctx context.Context, sb *sandbox.Sandbox, cols, rows uint, env ...string) (sandbox.TTY, error) {
	size := client.ConsoleSize{Width: cols, Height: rows}
	created, err := e.cli.ExecCreate(ctx, sb.ID, client.ExecCreateOptions{
		User:         studentUser,
		TTY:          true,
		ConsoleSize:  size,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		WorkingDir:   studentHome,
		Env:          append([]string{dockerHost, "TERM=xterm-256color", "LANG=C.UTF-8", "HOME=" + studentHome}, env...),
		Cmd:          []string{"/bin/bash", "-l"},
	})
	if err != nil {
		return nil, execError(sb, err)
	}
	att, err := e.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: true, ConsoleSize: size})
	if err != nil {
		return nil, execError(sb, err)
	}
	t := &tty{cli: e.cli, id: created.ID, att: att}
	// Daemons before API 1.42 (Debian's 20.10) ignore ConsoleSize; size the
	// TTY once it runs. A busy daemon may answer late: the shell is still
	// usable, and the browser's next resize fixes the size.
	if err := t.Resize(cols, rows); err != nil {
		e.log.Warn("first resize of a shell failed", "sandbox", sb.Name, "err", err)
	}
	return t, nil
}

// tty is a shell's exec stream; with a TTY the stream is raw, not multiplexed.
type tty struct {
	cli *client.Client
	id  string
	att client.ExecAttachResult
}

func (t *tty) Read(p []byte) (int, error)  { return t.att.Reader.Read(p) }
func (t *tty) Write(p []byte) (int, error) { return t.att.Conn.Write(p) }
func (t *tty) Close() error                { t.att.Close(); return nil }

func (t *tty) Resize(cols, rows uint) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := t.cli.ExecResize(ctx, t.id, client.ExecResizeOptions{Width: cols, Height: rows})
	return err
}

// Remove implements sandbox.Engine.
func (e *Engine) Remove(ctx context.Context, key sandbox.Key) error {
	name := e.Name(key)
	defer e.lock(name)()
	return e.removeByName(ctx, name)
}

// removeByName removes a container and its network, which has the name the
// container had when it was made (a claimed warm one was renamed since).
func (e *Engine) removeByName(ctx context.Context, name string) error {
	network := name
	if info, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil && info.Container.HostConfig != nil {
		network = string(info.Container.HostConfig.NetworkMode)
	}
	_, err := e.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	_, err = e.cli.NetworkRemove(ctx, network, client.NetworkRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", network, err)
	}
	return nil
}
