package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"handson/content"
	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/grading"
	"handson/internal/labtest"
	"handson/internal/preflight"
	"handson/internal/registry"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/terminal"
	"handson/labs"
	"handson/server"
)

func serve(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fl := flag.NewFlagSet("handson serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfg.Flags(fl)
	dev := fl.Bool("dev", false, "re-read the -labs directory when it changes, for lab authors")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *dev && cfg.LabsDir == "" {
		fmt.Fprintln(stderr, "handson serve: -dev needs -labs DIR (the built-in course does not change)")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "handson serve:", err)
		return 2
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "handson serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, log, stdout, *dev); err != nil {
		log.Error("handson serve failed", "err", err)
		return 1
	}
	return 0
}

// runServer starts everything and blocks until ctx ends.
func runServer(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, dev bool) error {
	app, err := start(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	if dev {
		go watchLabs(ctx, cfg.LabsDir, app.Server, log)
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return app.Close(shutdown)
}

// app is a running platform.
type app struct {
	Server   *server.Server
	db       *store.DB
	engine   *docker.Engine
	registry *registry.Registry // nil without one
	host     *preflight.Monitor // whether the host can run sandboxes
	stopRun  func()             // ends the sandbox manager's loop and the host checks
}

// Close stops the server and the sandbox manager, then releases the
// database and the engine. Sandboxes keep running: the next start adopts
// them. The registry container is removed; its images stay in its volume.
func (a *app) Close(ctx context.Context) error {
	err := a.Server.Close(ctx)
	a.stopRun()
	if a.registry != nil {
		if rerr := a.registry.Close(ctx); err == nil {
			err = rerr
		}
	}
	a.engine.Close()
	if cerr := a.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// start opens the store and the engine and starts serving.
func start(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (_ *app, err error) {
	course, err := loadCourse(cfg.LabsDir)
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
		return nil, hostError(preflight.Run(ctx, docker.HostCheck{Spec: cfg.SandboxSpec()}.Probes()[:2]), err)
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
	var srv *server.Server
	sandboxes.Prepare = func(ctx context.Context, sb *sandbox.Sandbox) error {
		entry := srv.CurrentCourse().Lab(sb.Key.Lab)
		if entry == nil {
			return nil
		}
		return labtest.Prepare(ctx, engine, sb, entry, 5*time.Minute)
	}
	// The host is proven before students use it (a canary sandbox
	// included), and again while it fails: sandboxes start only on a host
	// that passed.
	host := preflight.NewMonitor(func(ctx context.Context) *preflight.Report {
		return preflight.Run(ctx, hostProbes(cfg, course, engine, fw, reg))
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
			printReport(stdout, "en", host.Report())
		case <-runCtx.Done():
		}
	}()

	srv = &server.Server{
		Terminals:     terminal.NewRegistry(terminal.Config{Grace: cfg.TermGrace, RecordDir: cfg.RecordDir, Log: log}),
		Store:         db,
		Course:        course,
		Sandboxes:     sandboxes,
		Grader:        &grading.Grader{Engine: engine, Timeout: cfg.CheckTimeout},
		Log:           log,
		SecureCookies: cfg.SecureCookies,
		PreviewDomain: cfg.PreviewDomain,
		Sandbox:       cfg.SandboxSpec(),
		Host:          host,
	}
	if reg != nil {
		srv.Registry = reg
	}
	warm := map[string]sandbox.Spec{}
	for _, e := range course.Labs() {
		warm[e.ID] = srv.Spec(e.Primary)
	}
	sandboxes.SetWarm(warm)
	if err := srv.Open(cfg.Addr); err != nil {
		stopRun()
		return nil, err
	}
	fmt.Fprintf(stdout, "handson is serving %d labs at %s\n", len(course.Labs()), srv.URL())
	if reg != nil {
		st := reg.Status()
		fmt.Fprintf(stdout, "classroom registry: sandboxes use %s (listening on %s), %d library images\n", reg.Address(), cfg.RegistryAddr, len(st.Library))
	}
	if err := firstAdmin(ctx, db, cfg.DataDir, stdout); err != nil {
		srv.Close(ctx)
		stopRun()
		return nil, err
	}
	return &app{Server: srv, db: db, engine: engine, registry: reg, host: host, stopRun: stopRun}, nil
}

func loadCourse(dir string) (*content.Course, error) {
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
func firstAdmin(ctx context.Context, db *store.DB, dataDir string, stdout io.Writer) error {
	pwFile := filepath.Join(dataDir, "initial-admin-password")
	n, err := db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if _, err := os.Stat(pwFile); err == nil {
			fmt.Fprintf(stdout, "Log in as admin; the first password is in %s\n", pwFile)
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
	fmt.Fprintf(stdout, "First admin created — username: admin  password: %s  (also in %s)\n", password, pwFile)
	return nil
}
