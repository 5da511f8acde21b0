package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"handson/content"
	"handson/internal/config"
	"handson/internal/labrun"
	"handson/internal/labtest"
	"handson/internal/platform"
	"handson/server"
)

func lab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "lint":
		return lint(args[1:], stdout, stderr)
	case "test":
		return labTest(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "handson lab: unknown command %q\n", args[0])
	return 2
}

// images is a repeatable -image flag.
type images []string

func (i *images) String() string     { return strings.Join(*i, ",") }
func (i *images) Set(v string) error { *i = append(*i, v); return nil }

// parseInterspersed parses flags before, between and after the
// positional arguments ("lab test labs -keep" works too).
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadDirs loads the labs under each dir and prints every problem as
// DIR/file:line:col; ok is false when there was any.
func loadDirs(dirs []string, known []string, stdout io.Writer) (entries []*content.Entry, ok bool) {
	ok = true
	for _, dir := range dirs {
		dir = strings.TrimSuffix(dir, "/")
		course, err := content.Load(os.DirFS(dir))
		var errs content.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintf(stdout, "%s/%s\n", dir, e)
			}
			ok = false
		} else if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", dir, err)
			ok = false
		}
		if course == nil {
			continue
		}
		if known != nil {
			for _, e := range course.CheckImages(known...) {
				fmt.Fprintf(stdout, "%s/%s\n", dir, e)
				ok = false
			}
		}
		if len(course.Labs()) == 0 && err == nil {
			fmt.Fprintf(stdout, "%s: no labs found (a lab is a folder with a lab.md)\n", dir)
			ok = false
		}
		for _, e := range course.Labs() {
			e.Primary.File = dir + "/" + e.Primary.File // as the author knows it
			entries = append(entries, e)
		}
	}
	return entries, ok
}

// lint prints every problem in the labs under each DIR as file:line:col.
func lint(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("handson lab lint", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var known images
	fl.Var(&known, "image", "a sandbox image `NAME` the server has, besides "+strings.Join(content.PlatformImages, ", ")+"; repeat for more")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: handson lab lint [-image NAME]... DIR...")
		fl.PrintDefaults()
	}
	dirs, code := parseDirs(fl, args)
	if code >= 0 {
		return code
	}
	if _, ok := loadDirs(dirs, append(known, content.PlatformImages...), stdout); !ok {
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// labTest proves each lab under DIR... on a fresh sandbox of its own.
func labTest(args []string, stdout, stderr io.Writer) int {
	// Sandboxes as `handson serve` would make them: its defaults and its
	// HANDSON_* environment (the image, HANDSON_SANDBOX_MEMORY_MB, …).
	cfg := config.Default()
	cfg.Flags(flag.NewFlagSet("environment", flag.ContinueOnError))
	fl := flag.NewFlagSet("handson lab test", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var opts labtest.Options
	fl.BoolVar(&opts.Keep, "keep", false, "leave each lab's sandbox running afterwards, to look inside")
	fl.StringVar(&opts.Step, "step", "", "stop after step `ID` (or LAB/ID); only labs with that step are tested")
	scriptTimeout := fl.Duration("script-timeout", labrun.DefaultScriptTimeout, "time a setup or solve script may run")
	fl.BoolVar(&opts.Verbose, "v", false, "print every phase of every step with the scripts' output")
	junit := fl.String("junit", "", "also write a JUnit XML report to `FILE` (for CI)")
	fl.DurationVar(&cfg.CheckTimeout, "timeout", cfg.CheckTimeout, "time a check may run (as handson serve -check-timeout)")
	fl.StringVar(&cfg.Image, "image", cfg.Image, "sandbox image of labs that name none (HANDSON_IMAGE)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: handson lab test [flags] DIR...\n\n"+
			"For each lab: a fresh sandbox, its assets and setup; then for each step its setup,\n"+
			"the check (must fail), the solve (must succeed) and the check again (must pass).\n"+
			"Then each step's cheats (the check must fail after each) and variants (it must\n"+
			"pass), on fresh sandboxes brought to the step by the solves before it.\n\nFlags:")
		fl.PrintDefaults()
	}
	dirs, code := parseDirs(fl, args)
	if code >= 0 {
		return code
	}
	entries, ok := loadDirs(dirs, nil, stdout)
	if !ok {
		fmt.Fprintln(stdout, "FAIL: the labs have problems (handson lab lint lists them); nothing was tested")
		return 1
	}
	entries, err := labtest.Select(entries, opts.Step)
	if err != nil {
		fmt.Fprintln(stderr, "handson lab test: -step:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Sandboxes, scripts and the classroom registry as a server has them,
	// for an installation of lab test's own.
	run, err := platform.NewStandalone(ctx, cfg, "labtest", log)
	if err != nil {
		fmt.Fprintln(stderr, "handson lab test:", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := run.Close(ctx); err != nil {
			fmt.Fprintln(stderr, "handson lab test: cleaning up:", err)
		}
	}()
	run.Labs.ScriptTimeout = *scriptTimeout
	// The registry's test student: checks and solves get HANDSON_USER,
	// solves (only) an access token to docker login with.
	if reg := run.Registry; reg != nil {
		opts.Env = []string{"HANDSON_USER=" + reg.User}
		opts.SolveEnv = []string{"HANDSON_REGISTRY_TOKEN=" + reg.Token}
	}
	missing := false
	for _, e := range entries {
		img := run.Labs.Spec(e.Primary).Image
		if err := run.Engine.CheckImage(ctx, img); err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", e.Primary.File, err)
			missing = true
		}
	}
	if missing {
		fmt.Fprintln(stdout, "FAIL: sandbox images are missing; nothing was tested")
		return 1
	}

	rep, runErr := labtest.Run(ctx, run.Engine, run.Labs, entries, opts, stdout)
	if *junit != "" {
		if err := writeJUnit(*junit, rep); err != nil {
			fmt.Fprintln(stderr, "handson lab test:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "handson lab test: interrupted:", runErr)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

func writeJUnit(file string, rep *labtest.Report) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := rep.WriteJUnit(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// watchLabs re-reads dir when it changes and serves the new course; a
// course with problems is logged and the last good one kept
// (handson serve -dev).
func watchLabs(ctx context.Context, dir string, srv *server.Server, log *slog.Logger) {
	log.Info("dev mode: labs are re-read when they change", "dir", dir)
	content.Watch(ctx, dir, time.Second, func(c *content.Course, err error) {
		switch {
		case err != nil:
			var errs content.Errors
			if !errors.As(err, &errs) {
				log.Warn("labs cannot be read; still serving the last good version", "err", err)
				return
			}
			for _, e := range errs {
				log.Warn("lab problem; still serving the last good version", "problem", filepath.Join(dir, e.File)+strings.TrimPrefix(e.Error(), e.File))
			}
		case len(c.Labs()) == 0:
			log.Warn("no labs found; still serving the last good version", "dir", dir)
		default:
			srv.SetCourse(c)
			log.Info("labs reloaded", "labs", len(c.Labs()))
		}
	})
}

// parseDirs parses flags and the DIR arguments among them; code is the
// exit code to return at once (help, bad flags, no DIR), or -1 to go on.
func parseDirs(fl *flag.FlagSet, args []string) (dirs []string, code int) {
	dirs, err := parseInterspersed(fl, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, 0
	case err != nil:
		return nil, 2
	case len(dirs) == 0:
		fl.Usage()
		return nil, 2
	}
	return dirs, -1
}
