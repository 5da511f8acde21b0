// Package testenv finds the real parts tests need — a Docker daemon with
// the sandbox image, a Chromium — and decides what happens when one is
// missing: in CI (CI=true) the test fails; elsewhere it is skipped with the
// reason printed.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// SandboxImage is the image `make images` builds.
const SandboxImage = "handson/sandbox:latest"

// InCI reports whether missing parts must fail tests.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing says a test cannot run here, and why: in CI it fails tb, elsewhere
// it skips tb with the reason. For what the Require helpers do not cover
// (root, an architecture, a seeded volume).
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("CI=true and "+format, args...)
	}
	tb.Skipf("skipped: "+format, args...)
}

// RequireDocker fails or skips tb unless a Docker daemon answers and the
// sandbox image is built.
func RequireDocker(tb testing.TB) {
	tb.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		Missing(tb, "no Docker client: %v (run scripts/host-setup.sh)", err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		Missing(tb, "no Docker daemon answers: %v (run scripts/host-setup.sh)", err)
		return
	}
	if _, err := cli.ImageInspect(ctx, SandboxImage); err != nil {
		Missing(tb, "sandbox image %s is not built: %v (run scripts/build-images.sh)", SandboxImage, err)
		return
	}
	// A sandbox on a host whose devices it cannot open would only time out.
	for _, d := range []string{"/dev/net/tun", "/dev/fuse"} {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o006 != 0o006 {
			Missing(tb, "%s is mode %04o: sandboxes cannot start their Docker (run scripts/host-setup.sh)", d, st.Mode().Perm())
			return
		}
	}
}

// RegistryImage is the classroom registry's image (labs/images/registry).
const RegistryImage = "handson/registry:latest"

// RequireImage fails or skips tb unless a Docker daemon answers and has
// image (RequireDocker's checks come first).
func RequireImage(tb testing.TB, image string) {
	tb.Helper()
	RequireDocker(tb)
	cli, err := client.New(client.FromEnv)
	if err != nil {
		Missing(tb, "no Docker client: %v", err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		Missing(tb, "image %s is not built: %v (run scripts/build-images.sh)", image, err)
	}
}

// Chromium returns the path of a Chromium binary, or fails or skips tb.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(tb, "no Chromium found (run scripts/ensure-browser.sh)")
	return ""
}
