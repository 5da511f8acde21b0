// Package platform builds the whole platform from a config: the one place
// that knows every concrete type (the SQLite store, the Docker engine, the
// classroom registry, the host checks, the web server). `handson serve`,
// `handson lab test`, `handson doctor` and the system tests start it here.
package platform

import (
	"context"
	"errors"
	"fmt"
	"handson/content"
	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/labrun"
	"handson/internal/preflight"
	"handson/internal/registry"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/terminal"
	"handson/labs"
	"handson/server"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// Platform is a running handson: the store, the sandbox engine and its
// manager, the host checks, the classroom registry and the web server.
type Platform struct {
	Server    *server.Server
	DB        *store.DB
	Engine    *docker.Engine
	Sandboxes *sandbox.Manager
	Labs      *labrun.Runner
	Registry  *registry.Registry // nil without one
	Host      *preflight.Monitor // whether the host can run sandboxes
	stopRun   func()             // ends the sandbox manager's loop and the host checks
}

// Close stops the server and the sandbox manager, then releases the
// database and the engine. Sandboxes keep running: the next start adopts
// them. The registry container is removed; its images stay in its volume.
func (p *Platform) Close(ctx context.Context) error { return p.release(ctx) }

// release undoes what has been started, in reverse.
func (p *Platform) release(ctx context.Context) error {
	var errs []error
	if p.Server != nil {
		errs = append(errs, p.Server.Close(ctx))
	}
	p.stopRun()
	if p.Registry != nil {
		errs = append(errs, p.Registry.Close(ctx))
	}
	if p.Engine != nil {
		p.Engine.Close()
	}
	if p.DB != nil {
		errs = append(errs, p.DB.Close())
	}
	return errors.Join(errs...)
}

// Start builds the platform of cfg and serves it on cfg.Addr; what it
// says for the operator (the address, the first admin's password, the
// host checks) goes to out.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (_ *Platform, err error) {
	course, err := LoadCourse(cfg.LabsDir)
	if err != nil {
		return nil, err
	}
	p := &Platform{stopRun: func() {}}
	defer func() {
		if err != nil {
			p.release(context.WithoutCancel(ctx))
		}
	}()
	if err := p.openStore(ctx, cfg); err != nil {
		return nil, err
	}
	fw, err := p.openEngine(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	// Before any sandbox is made: each gets the registry's name and mirror.
	if cfg.RegistryAddr != "" {
		if p.Registry, err = startRegistry(ctx, p.DB, p.Engine, cfg.RegistryAddr, cfg.RegistryUpstream, filepath.Join(cfg.DataDir, "registry"), log); err != nil {
			return nil, fmt.Errorf("classroom registry: %w", err)
		}
	} else {
		log.Warn("no classroom registry (-registry-addr is empty): docker pull in sandboxes reaches only the internet")
	}
	p.newSandboxes(cfg, course, fw, log)
	adopted, reaped, err := p.Sandboxes.Adopt(ctx)
	if err != nil {
		return nil, fmt.Errorf("adopt sandboxes: %w", err)
	}
	log.Info("sandboxes adopted", "adopted", adopted, "orphans_removed", reaped)

	p.Server = &server.Server{
		Terminals:     terminal.NewSessions(terminal.Config{Grace: cfg.TermGrace, RecordDir: cfg.RecordDir, Log: log}),
		Store:         p.DB,
		Course:        course,
		Sandboxes:     p.Sandboxes,
		Labs:          p.Labs,
		Log:           log,
		SecureCookies: cfg.SecureCookies,
		PreviewDomain: cfg.PreviewDomain,
		Host:          p.Host,
	}
	if p.Registry != nil {
		p.Server.Registry = p.Registry
	}
	p.run(out) // after the server is made: a warm sandbox's Prepare asks it for the course
	if err := p.Server.Open(cfg.Addr); err != nil {
		p.Server = nil
		return nil, err
	}
	fmt.Fprintf(out, "handson is serving %d labs at %s\n", len(course.Labs()), p.Server.URL())
	if p.Registry != nil {
		fmt.Fprintf(out, "classroom registry: sandboxes use %s (listening on %s), %d library images\n", p.Registry.Address(), cfg.RegistryAddr, len(p.Registry.Status().Library))
	}
	if err := firstAdmin(ctx, p.DB, cfg.DataDir, out); err != nil {
		return nil, err
	}
	return p, nil
}

// openStore opens the SQLite file of cfg's data directory.
func (p *Platform) openStore(ctx context.Context, cfg config.Config) (err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	p.DB, err = store.Open(ctx, filepath.Join(cfg.DataDir, "handson.db"))
	return err
}

// openEngine connects to Docker as this installation (its id is kept in
// the store) and installs the sandbox firewall: sandboxes must not reach
// the host's services or cloud metadata; the classroom registry's port is
// the one exception. Without it no sandbox starts (the guard; the host
// checks say why), but the platform serves.
func (p *Platform) openEngine(ctx context.Context, cfg config.Config, log *slog.Logger) (firewall.Rules, error) {
	instance, err := p.DB.InstanceID(ctx)
	if err != nil {
		return firewall.Rules{}, err
	}
	if p.Engine, err = docker.New(ctx, instance, log); err != nil {
		// What the host lacks and how to fix it, not only the client's error.
		return firewall.Rules{}, preflight.Run(ctx, docker.HostCheck{Spec: cfg.SandboxSpec()}.Probes()[:2]).Err(err)
	}
	fw := docker.Firewall(cfg.RegistryPort())
	if err := firewall.Ensure(ctx, fw); err != nil {
		log.Error("the sandbox firewall cannot be installed; no sandbox starts until it is", "err", err)
	}
	return fw, nil
}

// newSandboxes makes the sandbox manager, the labs' runner and the host
// checks, wired together: a new sandbox gets its lab's files and setup
// before it counts as ready; sandboxes start only on a host that passed its
// checks (a canary sandbox included) and with the firewall in place; a
// sandbox found broken asks for the checks again.
func (p *Platform) newSandboxes(cfg config.Config, course *content.Course, fw firewall.Rules, log *slog.Logger) {
	// A start is CPU-bound: 40 at once on 2 cores gave nobody a prompt
	// within 4 minutes (docs/benchmarks.md).
	if cpus := runtime.NumCPU(); cfg.MaxStarts > 2*cpus {
		log.Warn("max-starts is more than twice the cores: starting that many sandboxes at once can starve them all; the others wait in line anyway", "max_starts", cfg.MaxStarts, "cpus", cpus)
	}
	p.Host = preflight.NewMonitor(func(ctx context.Context) *preflight.Report {
		return preflight.Run(ctx, HostProbes(cfg, course, p.Engine, fw, p.Registry))
	}, log)
	p.Sandboxes = sandbox.NewManager(p.Engine, p.DB, sandbox.Policy{
		IdleStop:   cfg.IdleStop,
		MaxAge:     cfg.MaxAge,
		MaxStarts:  cfg.MaxStarts,
		DiskLimit:  cfg.DiskMB << 20,
		Interval:   15 * time.Second,
		DiskEvery:  4,
		ProbeEvery: sandbox.DefaultPolicy().ProbeEvery,
		WarmPool:   cfg.WarmPool,

		MemReserve: cfg.MemReserveMB << 20,
		MemFloor:   sandbox.DefaultPolicy().MemFloor,
	}, log)
	p.Labs = &labrun.Runner{Exec: p.Sandboxes, Base: cfg.SandboxSpec(), CheckTimeout: cfg.CheckTimeout}
	p.Sandboxes.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		entry := p.Server.CurrentCourse().Lab(sb.Key.Lab) // the course of now (-dev reloads it)
		if entry == nil {
			return nil
		}
		return p.Labs.Prepare(ctx, sb, entry)
	}
	p.Sandboxes.Broken = func(sandbox.Key, string) { p.Host.Suspect() }
	// A student's line is their class's (the first, if several): classes
	// take turns when many start at once.
	p.Sandboxes.Group = func(ctx context.Context, key sandbox.Key) string {
		if ids, err := p.DB.StudentClasses(ctx, key.UserID); err == nil && len(ids) > 0 {
			return fmt.Sprint("class ", slices.Min(ids))
		}
		return ""
	}
	p.Sandboxes.Guard = func(ctx context.Context) error {
		if err := p.Host.Gate(ctx); err != nil {
			return err
		}
		// Rules can vanish (a daemon restart, an operator's flush): put
		// them back before a sandbox starts, or refuse to start it.
		if err := firewall.Verify(ctx, fw); err != nil {
			log.Warn("sandbox firewall incomplete; reinstalling", "err", err)
			return firewall.Ensure(ctx, fw)
		}
		return nil
	}
	warm := map[string]sandbox.Spec{}
	for _, e := range course.Labs() {
		warm[e.ID] = p.Labs.Spec(e.Primary)
	}
	p.Sandboxes.SetWarm(warm)
}

// run starts the manager's loop and the host checks; the first report goes
// to out.
func (p *Platform) run(out io.Writer) {
	ctx, cancel := context.WithCancel(context.Background())
	runDone, hostDone := make(chan struct{}), make(chan struct{})
	go func() { p.Sandboxes.Run(ctx); close(runDone) }()
	go func() { p.Host.Run(ctx); close(hostDone) }()
	// Run writes last activity on its way out; a canary is removed.
	p.stopRun = func() { cancel(); <-runDone; <-hostDone }
	go func() {
		select {
		case <-p.Host.First():
			p.Host.Report().Print(out, "en")
		case <-ctx.Done():
		}
	}()
}

// LoadCourse loads the labs of dir, or the built-in course when dir is "".
func LoadCourse(dir string) (*content.Course, error) {
	var fsys fs.FS = labs.Course
	if dir != "" {
		fsys = os.DirFS(dir)
	}
	course, err := content.Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("labs have problems (see `handson lab lint`):\n%w", err)
	}
	if len(course.Labs()) == 0 {
		return nil, errors.New("no labs found (each lab is a folder with a lab.md)")
	}
	return course, nil
}

// firstAdmin creates the admin account on an empty database. Its password
// comes from HANDSON_ADMIN_PASSWORD or is made up, and is kept in the data
// directory so the operator can find it again.
func firstAdmin(ctx context.Context, db *store.DB, dataDir string, out io.Writer) error {
	pwFile := filepath.Join(dataDir, "initial-admin-password")
	n, err := db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if _, err := os.Stat(pwFile); err == nil {
			fmt.Fprintf(out, "Log in as admin; the first password is in %s\n", pwFile)
		}
		return nil
	}
	password := os.Getenv("HANDSON_ADMIN_PASSWORD")
	if password == "" {
		password = auth.NewPassword()
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("HANDSON_ADMIN_PASSWORD: %w", err)
	}
	if err := db.CreateUser(ctx, &store.User{Username: "admin", DisplayName: "Administrator", PasswordHash: hash, Role: store.RoleAdmin}); err != nil {
		return err
	}
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "First admin created — username: admin  password: %s  (also in %s)\n", password, pwFile)
	return nil
}
