package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"handson/internal/config"
)

// testAdminPassword is the first admin's password in tests.
const testAdminPassword = "test-admin-password"

// startPlatform starts the whole platform, as handson serve does, on a free
// port with dataDir; its log and output go to logs. It closes when the
// test ends.
func startPlatform(t testing.TB, dataDir string, logs io.Writer) *app {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	t.Setenv("HANDSON_ADMIN_PASSWORD", testAdminPassword)
	a, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
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
