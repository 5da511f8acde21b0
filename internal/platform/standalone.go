package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"handson/internal/config"
	"handson/internal/labrun"
	"handson/internal/sandbox/docker"
)

// Standalone is an installation of its own for a command that proves labs
// on this host (`handson lab test`): a fresh instance id, so its sandboxes
// never meet a server's or another run's; the sandbox firewall a server
// installs; the classroom registry as a server runs it, with a test
// student; and the labs' runner with the server's settings.
type Standalone struct {
	Engine   *docker.Engine
	Labs     *labrun.Runner
	Registry *TestRegistry // nil when cfg has no registry address
}

// NewStandalone starts a Standalone of cfg; prefix names its instance
// ("labtest").
func NewStandalone(ctx context.Context, cfg config.Config, prefix string, log *slog.Logger) (_ *Standalone, err error) {
	s := &Standalone{}
	if s.Engine, err = Engine(ctx, NewInstance(prefix), cfg.RegistryPort(), log); err != nil {
		return nil, err
	}
	if cfg.RegistryAddr != "" {
		if s.Registry, err = StartTestRegistry(ctx, s.Engine, cfg.RegistryPort(), cfg.RegistryUpstream, log); err != nil {
			s.Engine.Close()
			return nil, fmt.Errorf("classroom registry: %w", err)
		}
	}
	s.Labs = &labrun.Runner{Exec: s.Engine, Base: cfg.SandboxSpec(), CheckTimeout: cfg.CheckTimeout}
	return s, nil
}

// Close removes the registry and its test student's pushes, and releases
// the engine.
func (s *Standalone) Close(ctx context.Context) error {
	var errs []error
	if s.Registry != nil {
		errs = append(errs, s.Registry.Close(ctx))
	}
	errs = append(errs, s.Engine.Close())
	return errors.Join(errs...)
}
