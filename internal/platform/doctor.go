package platform

import (
	"context"
	"handson/internal/config"
	"handson/internal/preflight"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"log/slog"
	"time"
)

// Doctor checks this host as Start does before it takes students, then,
// unless Docker itself is missing, what a sandbox needs: the firewall, the
// classroom registry and (with canary) a test sandbox, all for an
// installation of doctor's own, so nothing of a running server's is
// touched.
func Doctor(ctx context.Context, cfg config.Config, canary bool, log *slog.Logger) (*preflight.Report, error) {
	course, err := LoadCourse(cfg.LabsDir)
	if err != nil {
		return nil, err
	}
	spec := cfg.SandboxSpec()
	rep := preflight.Run(ctx, docker.HostCheck{Spec: spec, Images: LabImages(course, spec), Dirs: []string{cfg.DataDir}}.Probes())
	if !rep.Blocked() {
		more, done := doctorSandboxProbes(ctx, cfg, spec, canary, log)
		defer done()
		rep.Checks = append(rep.Checks, preflight.Run(ctx, more).Checks...)
	}
	rep.Took = time.Since(rep.At)
	return rep, nil
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
	engine, err := docker.New(ctx, NewInstance("doctor"), log)
	if err != nil { // the host checks passed: this is rare
		return []preflight.Probe{{ID: "canary", Run: func(context.Context) preflight.Check {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.canary.start", Fix: "preflight.canary.fix", Detail: err.Error()}
		}}}, done
	}
	cleanup = append(cleanup, func() { engine.Close() })
	fw := docker.Firewall(cfg.RegistryPort())
	// As serve's: the rules are shared and idempotent, put in place if not.
	probes := []preflight.Probe{FirewallProbe(fw)}
	var reg *TestRegistry
	if cfg.RegistryAddr != "" {
		probes = append(probes, preflight.Probe{ID: "registry", Run: func(ctx context.Context) preflight.Check {
			if reg, err = StartTestRegistry(ctx, engine, cfg.RegistryPort(), cfg.RegistryUpstream, log); err != nil {
				return preflight.Check{Status: preflight.Warn, Key: "preflight.registry.down", Fix: "preflight.registry.fix", Detail: err.Error()}
			}
			cleanup = append(cleanup, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				reg.Close(ctx)
			})
			return RegistryProbe(reg.Registry).Run(ctx)
		}})
	}
	if canary {
		probes = append(probes, preflight.Probe{ID: "canary", Run: func(ctx context.Context) preflight.Check {
			return preflight.Canary(engine, spec, reg != nil).Run(ctx)
		}})
	}
	return probes, done
}
