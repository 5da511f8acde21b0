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
func (p *Platform) Close(ctx context.Context) error {
	err := p.Server.Close(ctx)
	p.stopRun()
	if p.Registry != nil {
		if rerr := p.Registry.Close(ctx); err == nil {
			err = rerr
		}
	}
	p.Engine.Close()
	if cerr := p.DB.Close(); err == nil {
		err = cerr
	}
	return err
}

// Start builds the platform of cfg and serves it on cfg.Addr; what it
// says for the operator (the address, the first admin's password, the
// host checks) goes to out.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (_ *Platform, err error) {
	course, err := LoadCourse(cfg.LabsDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, filepath.Join(cfg.DataDir, "handson.db"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	instance, err := db.InstanceID(ctx)
	if err != nil {
		return nil, err
	}
	engine, err := docker.New(ctx, instance, log)
	if err != nil {
		// What the host lacks and how to fix it, not only the client's error.
		return nil, preflight.Run(ctx, docker.HostCheck{Spec: cfg.SandboxSpec()}.Probes()[:2]).Err(err)
	}
	defer func() {
		if err != nil {
			engine.Close()
		}
	}()
	// Sandboxes must not reach the host's services or cloud metadata: no
	// firewall, no sandbox (the guard below; the host checks say why). The
	// classroom registry's port is the one exception.
	fw := docker.Firewall(cfg.RegistryPort())
	if err := firewall.Ensure(ctx, fw); err != nil {
		log.Error("the sandbox firewall cannot be installed; no sandbox starts until it is", "err", err)
	}
	// Before any sandbox is made: each gets the registry's name and mirror.
	var reg *registry.Registry
	if cfg.RegistryAddr != "" {
		if reg, err = startRegistry(ctx, db, engine, cfg.RegistryAddr, cfg.RegistryUpstream, filepath.Join(cfg.DataDir, "registry"), log); err != nil {
			return nil, fmt.Errorf("classroom registry: %w", err)
		}
		defer func() {
			if err != nil {
				reg.Close(context.WithoutCancel(ctx))
			}
		}()
	} else {
		log.Warn("no classroom registry (-registry-addr is empty): docker pull in sandboxes reaches only the internet")
	}

	sandboxes := sandbox.NewManager(engine, db, sandbox.Policy{
		IdleStop:  cfg.IdleStop,
		MaxAge:    cfg.MaxAge,
		MaxStarts: cfg.MaxStarts,
		DiskLimit: cfg.DiskMB << 20,
		Interval:  15 * time.Second,
		DiskEvery: 4,
		WarmPool:  cfg.WarmPool,
	}, log)
	// Rules can vanish (a daemon restart, an operator's flush): put them
	// back before a sandbox starts, or refuse to start it.
	// A new sandbox gets its lab's files and setup before it counts as ready.
	labs := &labrun.Runner{Exec: sandboxes, Base: cfg.SandboxSpec(), CheckTimeout: cfg.CheckTimeout}
	var srv *server.Server
	sandboxes.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		entry := srv.CurrentCourse().Lab(sb.Key.Lab)
		if entry == nil {
			return nil
		}
		return labs.Prepare(ctx, sb, entry)
	}
	// The host is proven before students use it (a canary sandbox
	// included), and again while it fails: sandboxes start only on a host
	// that passed.
	host := preflight.NewMonitor(func(ctx context.Context) *preflight.Report {
		return preflight.Run(ctx, HostProbes(cfg, course, engine, fw, reg))
	}, log)
	sandboxes.Broken = func(sandbox.Key, string) { host.Suspect() }
	sandboxes.Guard = func(ctx context.Context) error {
		if err := host.Gate(ctx); err != nil {
			return err
		}
		if err := firewall.Verify(ctx, fw); err != nil {
			log.Warn("sandbox firewall incomplete; reinstalling", "err", err)
			return firewall.Ensure(ctx, fw)
		}
		return nil
	}
	adopted, reaped, err := sandboxes.Adopt(ctx)
	if err != nil {
		return nil, fmt.Errorf("adopt sandboxes: %w", err)
	}
	log.Info("sandboxes adopted", "adopted", adopted, "orphans_removed", reaped)
	runCtx, cancelRun := context.WithCancel(context.Background())
	runDone, hostDone := make(chan struct{}), make(chan struct{})
	go func() { sandboxes.Run(runCtx); close(runDone) }()
	go func() { host.Run(runCtx); close(hostDone) }()
	// Run writes last activity on its way out; a canary is removed.
	stopRun := func() { cancelRun(); <-runDone; <-hostDone }
	go func() {
		select {
		case <-host.First():
			host.Report().Print(out, "en")
		case <-runCtx.Done():
		}
	}()

	srv = &server.Server{
		Terminals:     terminal.NewSessions(terminal.Config{Grace: cfg.TermGrace, RecordDir: cfg.RecordDir, Log: log}),
		Store:         db,
		Course:        course,
		Sandboxes:     sandboxes,
		Labs:          labs,
		Log:           log,
		SecureCookies: cfg.SecureCookies,
		PreviewDomain: cfg.PreviewDomain,
		Host:          host,
	}
	if reg != nil {
		srv.Registry = reg
	}
	warm := map[string]sandbox.Spec{}
	for _, e := range course.Labs() {
		warm[e.ID] = labs.Spec(e.Primary)
	}
	sandboxes.SetWarm(warm)
	if err := srv.Open(cfg.Addr); err != nil {
		stopRun()
		return nil, err
	}
	fmt.Fprintf(out, "handson is serving %d labs at %s\n", len(course.Labs()), srv.URL())
	if reg != nil {
		st := reg.Status()
		fmt.Fprintf(out, "classroom registry: sandboxes use %s (listening on %s), %d library images\n", reg.Address(), cfg.RegistryAddr, len(st.Library))
	}
	if err := firstAdmin(ctx, db, cfg.DataDir, out); err != nil {
		srv.Close(ctx)
		stopRun()
		return nil, err
	}
	return &Platform{Server: srv, DB: db, Engine: engine, Sandboxes: sandboxes, Labs: labs, Registry: reg, Host: host, stopRun: stopRun}, nil
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
