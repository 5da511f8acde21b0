package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"handson/internal/firewall"
	"handson/internal/sandbox/docker"
)

// NewDocker connects to the Docker daemon as a fresh installation of its
// own, "labtest-" and a random id, so its sandboxes never meet a server's
// or another run's, and installs the sandbox firewall a server would, with
// registryPort (0: none) open.
func NewDocker(ctx context.Context, log *slog.Logger, registryPort int) (*docker.Engine, error) {
	var id [4]byte
	rand.Read(id[:])
	engine, err := docker.New(ctx, "labtest-"+hex.EncodeToString(id[:]), log)
	if err != nil {
		return nil, err
	}
	// Sandboxes must not reach the host's services: the same rules as
	// `handson serve` (they are shared and idempotent).
	if err := firewall.Ensure(ctx, docker.Firewall(registryPort)); err != nil {
		engine.Close()
		return nil, fmt.Errorf("sandbox firewall: %w", err)
	}
	return engine, nil
}
