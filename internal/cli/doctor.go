package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/i18n"
	"handson/internal/platform"
	"handson/internal/preflight"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
)

// doctor checks this host as `handson serve` would before it takes
// students, with a canary sandbox of its own, and says what is wrong and
// how to fix it. Exit 0: ready (maybe with warnings); 1: not ready.
func doctor(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fl := flag.NewFlagSet("handson doctor", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfg.Flags(fl)
	lang := fl.String("lang", envLang(), "language of the report: en or ja")
	canary := fl.Bool("canary", true, "start a test sandbox (about 10 s); -canary=false checks only the host")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: handson doctor [-lang ja] [-canary=false] [serve's flags]\n\n"+
			"Checks what sandboxes need of this host (Docker, user namespaces, devices, seccomp,\n"+
			"firewall, images, classroom registry, disk, memory), then starts a test sandbox whose\n"+
			"Docker runs hello-world. Each problem comes with its fix. Exit status 1: not ready.")
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !i18n.Supported(*lang) {
		fmt.Fprintf(stderr, "handson doctor: -lang %q: use one of %s\n", *lang, strings.Join(i18n.Langs, ", "))
		return 2
	}
	course, err := platform.LoadCourse(cfg.LabsDir)
	if err != nil {
		fmt.Fprintln(stderr, "handson doctor:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	spec := cfg.SandboxSpec()
	probes := docker.HostCheck{Spec: spec, Images: platform.LabImages(course, spec), Dirs: []string{cfg.DataDir}}.Probes()
	fmt.Fprintln(stdout, i18n.T(*lang, "doctor.title"))
	rep := preflight.Run(ctx, probes)
	if !rep.Blocked() {
		// A sandbox's view: an installation of its own, as lab test has,
		// so nothing of a running server's is touched.
		more, done := doctorSandboxProbes(ctx, cfg, spec, *canary, log)
		defer done()
		rep.Checks = append(rep.Checks, preflight.Run(ctx, more).Checks...)
	}
	rep.Took = time.Since(rep.At)
	rep.Print(stdout, *lang)
	if !rep.Ready() {
		return 1
	}
	return 0
}

// doctorSandboxProbes are the firewall, the classroom registry and the
// canary, for a fresh installation id of doctor's own; done removes what
// they made.
func doctorSandboxProbes(ctx context.Context, cfg config.Config, spec sandbox.Spec, canary bool, log *slog.Logger) (_ []preflight.Probe, done func()) {
	var cleanup []func()
	done = func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	var id [4]byte
	rand.Read(id[:])
	engine, err := docker.New(ctx, "doctor-"+hex.EncodeToString(id[:]), log)
	if err != nil { // the host checks passed: this is rare
		return []preflight.Probe{{ID: "canary", Run: func(context.Context) preflight.Check {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.canary.start", Fix: "preflight.canary.fix", Detail: err.Error()}
		}}}, done
	}
	cleanup = append(cleanup, func() { engine.Close() })
	fw := docker.Firewall(cfg.RegistryPort())
	probes := []preflight.Probe{{ID: "firewall", Run: func(ctx context.Context) preflight.Check {
		// As serve does at start: the rules are shared and idempotent.
		if err := firewall.Ensure(ctx, fw); err != nil {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.firewall.fail", Fix: "preflight.firewall.fix", Detail: err.Error()}
		}
		return platform.FirewallProbe(fw).Run(ctx)
	}}}
	var reg *platform.TestRegistry
	if cfg.RegistryAddr != "" {
		probes = append(probes, preflight.Probe{ID: "registry", Run: func(ctx context.Context) preflight.Check {
			if reg, err = platform.StartTestRegistry(ctx, engine, cfg.RegistryPort(), cfg.RegistryUpstream, log); err != nil {
				return preflight.Check{Status: preflight.Warn, Key: "preflight.registry.down", Fix: "preflight.registry.fix", Detail: err.Error()}
			}
			cleanup = append(cleanup, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				reg.Close(ctx)
			})
			return platform.RegistryProbe(reg.Registry).Run(ctx)
		}})
	}
	if canary {
		probes = append(probes, preflight.Probe{ID: "canary", Run: func(ctx context.Context) preflight.Check {
			return preflight.Canary(engine, spec, reg != nil).Run(ctx)
		}})
	}
	return probes, done
}

// envLang is the report's language from the environment (LANG=ja_JP.UTF-8).
func envLang() string {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if l := os.Getenv(v); l != "" {
			if strings.HasPrefix(l, "ja") {
				return "ja"
			}
			return "en"
		}
	}
	return "en"
}
