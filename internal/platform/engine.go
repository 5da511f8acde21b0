package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"handson/internal/firewall"
	"handson/internal/sandbox/docker"
)

// NewInstance is a fresh installation id with a prefix ("labtest-1a2b3c4d"):
// sandboxes that never meet a server's or another run's.
func NewInstance(prefix string) string {
	var id [4]byte
	rand.Read(id[:])
	return prefix + "-" + hex.EncodeToString(id[:])
}

// Engine connects to the Docker daemon as installation instance and
// installs the sandbox firewall, with registryPort (0: none) the one host
// port sandboxes reach. The rules are shared by every installation on the
// host and idempotent.
func Engine(ctx context.Context, instance string, registryPort int, log *slog.Logger) (*docker.Engine, error) {
	engine, err := docker.New(ctx, instance, log)
	if err != nil {
		return nil, err
	}
	if err := firewall.Ensure(ctx, docker.Firewall(registryPort)); err != nil {
		engine.Close()
		return nil, fmt.Errorf("sandbox firewall: %w", err)
	}
	return engine, nil
}
