package platform

import (
	"context"
	"handson/content"
	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/labrun"
	"handson/internal/preflight"
	"handson/internal/registry"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
)

// HostProbes are what `handson serve` checks before sandboxes start, and
// again while they fail.
func HostProbes(cfg config.Config, course *content.Course, engine *docker.Engine, fw firewall.Rules, reg *registry.Registry) []preflight.Probe {
	spec := cfg.SandboxSpec()
	probes := docker.HostCheck{Spec: spec, Images: LabImages(course, spec), Dirs: []string{cfg.DataDir}}.Probes()
	probes = append(probes, FirewallProbe(fw))
	if reg != nil {
		probes = append(probes, RegistryProbe(reg))
	} else {
		probes = append(probes, preflight.Probe{ID: "registry", Run: func(context.Context) preflight.Check {
			return preflight.Check{Status: preflight.Skip, Key: "preflight.registry.none"}
		}})
	}
	return append(probes, preflight.Canary(engine, spec, reg != nil))
}

// LabImages are the sandbox images the labs name besides spec's.
func LabImages(course *content.Course, spec sandbox.Spec) []string {
	var out []string
	for _, e := range course.Labs() {
		if img := (&labrun.Runner{Base: spec}).Spec(e.Primary).Image; img != spec.Image {
			out = append(out, img)
		}
	}
	return out
}

// FirewallProbe verifies the sandbox firewall and puts it back when it is
// not in place (a daemon restart, an operator's flush, another
// installation's rules put first): it fails only when that cannot be done.
func FirewallProbe(fw firewall.Rules) preflight.Probe {
	return preflight.Probe{ID: "firewall", Run: func(ctx context.Context) preflight.Check {
		verr := firewall.Verify(ctx, fw)
		if verr == nil {
			return preflight.Check{Status: preflight.OK, Key: "preflight.firewall.ok"}
		}
		if err := firewall.Ensure(ctx, fw); err != nil {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.firewall.fail", Fix: "preflight.firewall.fix", Detail: err.Error()}
		}
		if err := firewall.Verify(ctx, fw); err != nil {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.firewall.fail", Fix: "preflight.firewall.fix", Detail: err.Error()}
		}
		return preflight.Check{Status: preflight.OK, Key: "preflight.firewall.ok", Detail: "put back: " + verr.Error()}
	}}
}

// RegistryProbe reads the registry's own health check: a registry that
// does not answer, or holds no course image, fails students' pulls but
// not their sandboxes.
func RegistryProbe(reg *registry.Registry) preflight.Probe {
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
