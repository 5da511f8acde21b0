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

	"handson/content"
	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/i18n"
	"handson/internal/preflight"
	"handson/internal/registry"
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
	course, err := loadCourse(cfg.LabsDir)
	if err != nil {
		fmt.Fprintln(stderr, "handson doctor:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	spec := cfg.SandboxSpec()
	probes := docker.HostCheck{Spec: spec, Images: labImages(course, spec), Dirs: []string{cfg.DataDir}}.Probes()
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
	printReport(stdout, *lang, rep)
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
		return firewallProbe(fw).Run(ctx)
	}}}
	var reg *testRegistry
	if cfg.RegistryAddr != "" {
		probes = append(probes, preflight.Probe{ID: "registry", Run: func(ctx context.Context) preflight.Check {
			if reg, err = startTestRegistry(ctx, engine, cfg.RegistryPort(), cfg.RegistryUpstream, log); err != nil {
				return preflight.Check{Status: preflight.Warn, Key: "preflight.registry.down", Fix: "preflight.registry.fix", Detail: err.Error()}
			}
			cleanup = append(cleanup, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				reg.Close(ctx)
			})
			return registryProbe(reg.Registry).Run(ctx)
		}})
	}
	if canary {
		probes = append(probes, preflight.Probe{ID: "canary", Run: func(ctx context.Context) preflight.Check {
			return preflight.Canary(engine, spec, reg != nil).Run(ctx)
		}})
	}
	return probes, done
}

// hostProbes are what `handson serve` checks before sandboxes start, and
// again while they fail.
func hostProbes(cfg config.Config, course *content.Course, engine *docker.Engine, fw firewall.Rules, reg *registry.Registry) []preflight.Probe {
	spec := cfg.SandboxSpec()
	probes := docker.HostCheck{Spec: spec, Images: labImages(course, spec), Dirs: []string{cfg.DataDir}}.Probes()
	probes = append(probes, firewallProbe(fw))
	if reg != nil {
		probes = append(probes, registryProbe(reg))
	} else {
		probes = append(probes, preflight.Probe{ID: "registry", Run: func(context.Context) preflight.Check {
			return preflight.Check{Status: preflight.Skip, Key: "preflight.registry.none"}
		}})
	}
	return append(probes, preflight.Canary(engine, spec, reg != nil))
}

// labImages are the sandbox images the labs name besides spec's.
func labImages(course *content.Course, spec sandbox.Spec) []string {
	var out []string
	for _, e := range course.Labs() {
		if img := e.Primary.Sandbox(spec).Image; img != spec.Image {
			out = append(out, img)
		}
	}
	return out
}

func firewallProbe(fw firewall.Rules) preflight.Probe {
	return preflight.Probe{ID: "firewall", Run: func(ctx context.Context) preflight.Check {
		if err := firewall.Verify(ctx, fw); err != nil {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.firewall.fail", Fix: "preflight.firewall.fix", Detail: err.Error()}
		}
		return preflight.Check{Status: preflight.OK, Key: "preflight.firewall.ok"}
	}}
}

// registryProbe reads the registry's own health check: a registry that
// does not answer, or holds no course image, fails students' pulls but
// not their sandboxes.
func registryProbe(reg *registry.Registry) preflight.Probe {
	return preflight.Probe{ID: "registry", Run: func(ctx context.Context) preflight.Check {
		st := reg.Status()
		switch {
		case !st.Ready:
			return preflight.Check{Status: preflight.Warn, Key: "preflight.registry.down", Fix: "preflight.registry.fix", Detail: st.Problem}
		case len(st.Library) == 0:
			return preflight.Check{Status: preflight.Warn, Key: "preflight.registry.empty", Fix: "preflight.registry.fix"}
		}
		return preflight.Check{Status: preflight.OK, Key: "preflight.registry.ok", Args: []any{len(st.Library)}}
	}}
}

// printReport writes rep as a table in lang: each check's verdict, what
// was found and the host's own words, the fix, and the canary's stages.
func printReport(w io.Writer, lang string, rep *preflight.Report) {
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %-5s %-22s %s (%s)\n", statusWord(c.Status), i18n.T(lang, "preflight."+c.ID), i18n.T(lang, c.Key, c.Args...), c.Took.Round(time.Millisecond))
		for _, line := range strings.Split(c.Detail, "\n") {
			if line != "" {
				fmt.Fprintf(w, "        | %s\n", line)
			}
		}
		if len(c.Stages) > 0 {
			var st []string
			for _, s := range c.Stages {
				mark := ""
				if !s.Done {
					mark = " ✗"
				}
				st = append(st, fmt.Sprintf("%s %s%s", i18n.T(lang, "preflight.stage."+s.Name), s.Took.Round(10*time.Millisecond), mark))
			}
			fmt.Fprintf(w, "        %s\n", strings.Join(st, ", "))
		}
		if c.Fix != "" && c.Status != preflight.OK {
			fmt.Fprintf(w, "        %s %s\n", i18n.T(lang, "status.fix"), i18n.T(lang, c.Fix))
		}
	}
	if rep.Ready() {
		fmt.Fprintln(w, i18n.T(lang, "doctor.ready", rep.Took.Round(100*time.Millisecond)))
	} else {
		fmt.Fprintln(w, i18n.T(lang, "doctor.notready", i18n.Count(lang, "count.checks", len(rep.Failed()))))
	}
}

func statusWord(s preflight.Status) string {
	switch s {
	case preflight.OK:
		return "ok"
	case preflight.Warn:
		return "WARN"
	case preflight.Fail:
		return "FAIL"
	}
	return "-"
}

// hostError is the error of a host without a usable Docker: the failed
// checks and their fixes, in English (serve's log).
func hostError(rep *preflight.Report, err error) error {
	var b strings.Builder
	b.WriteString("the host is not ready for sandboxes:")
	for _, c := range rep.Failed() {
		fmt.Fprintf(&b, "\n  %s: %s", i18n.T("en", "preflight."+c.ID), i18n.T("en", c.Key, c.Args...))
		if c.Detail != "" {
			fmt.Fprintf(&b, " (%s)", c.Detail)
		}
		if c.Fix != "" {
			fmt.Fprintf(&b, "\n    fix: %s", i18n.T("en", c.Fix))
		}
	}
	if len(rep.Failed()) == 0 {
		fmt.Fprintf(&b, " %v", err)
	}
	return errors.New(b.String())
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
