package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"handson/internal/config"
	"handson/internal/platform"
	"handson/internal/registry"
	"handson/internal/testenv"
)

// testAdminPassword is the first admin's password in tests.
const testAdminPassword = "test-admin-password"

// startPlatform starts the whole platform, as handson serve does, on a free
// port with dataDir; its log and output go to logs. It closes when the
// test ends.
func startPlatform(t testing.TB, dataDir string, logs io.Writer) *platform.Platform {
	t.Helper()
	return startPlatformWith(t, dataDir, logs, nil)
}

// startPlatformWith is startPlatform with settings changed by change.
func startPlatformWith(t testing.TB, dataDir string, logs io.Writer, change func(*config.Config)) *platform.Platform {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.RegistryAddr = testRegistryAddr(t, dataDir)
	if change != nil {
		change(&cfg)
	}
	t.Setenv("HANDSON_ADMIN_PASSWORD", testAdminPassword)
	a, err := platform.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
	if err != nil {
		t.Fatalf("start the platform: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close the platform: %v", err)
		}
	})
	return a
}

// testRegistryAddr is an address of this host of the test's own, with the
// classroom registry's usual port (registry.PrivateAddr says why), for a
// platform the test starts with dataDir (a restart with the same dataDir
// gets the same address). It needs the registry image.
func testRegistryAddr(tb testing.TB, dataDir string) string {
	tb.Helper()
	testenv.RequireImage(tb, testenv.RegistryImage)
	h := sha256.Sum256([]byte(dataDir))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, remove, err := registry.PrivateAddr(ctx, "handson-test-"+hex.EncodeToString(h[:4])+"-registry", config.Default().RegistryPort())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := remove(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return addr
}
