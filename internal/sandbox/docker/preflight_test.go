package docker

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"handson/internal/preflight"
	"handson/internal/testenv"
)

// TestCheckDevices: the devices check reads the nodes' modes as a fresh
// machine leaves them (0600), as udev or host-setup.sh makes them (0666),
// and missing or wrong nodes. The nodes are made in a temporary directory
// (tun's numbers, 10:200), so the host's own are not touched.
func TestCheckDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "not root: mknod needs root")
	}
	dir := t.TempDir()
	node := func(name string, mode uint32) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|mode, int(10<<8|200)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(mode)); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	open := node("open", 0o666)
	closed := node("closed", 0o600)
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o666)
	os.Chmod(plain, 0o666)

	for _, c := range []struct {
		name   string
		paths  []string
		status preflight.Status
		args   []any
	}{
		{"both 0666", []string{open, open}, preflight.OK, []any{open + ", " + open}},
		{"one 0600", []string{open, closed}, preflight.Fail, []any{closed, "0600"}},
		{"missing", []string{filepath.Join(dir, "none")}, preflight.Fail, []any{filepath.Join(dir, "none")}},
		{"not a device", []string{plain}, preflight.Fail, []any{plain}},
	} {
		got := checkDevices(c.paths)
		if got.Status != c.status || len(got.Args) != len(c.args) {
			t.Errorf("%s: %+v, want %s with %v", c.name, got, c.status, c.args)
			continue
		}
		for i := range c.args {
			if got.Args[i] != c.args[i] {
				t.Errorf("%s: args %v, want %v", c.name, got.Args, c.args)
			}
		}
		if c.status == preflight.Fail && (!strings.HasPrefix(got.Key, "preflight.devices.") || got.Fix != "preflight.devices.fix") {
			t.Errorf("%s: key %s fix %s, want the devices' message and fix", c.name, got.Key, got.Fix)
		}
	}
}
