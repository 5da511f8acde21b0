package preflight

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Disk thresholds: below DiskLow students may soon fail to pull; below
// DiskFail Docker itself fails (images, containers and SQLite all write).
const (
	DiskLow  = 5 << 30
	DiskFail = 1 << 30
)

// Disk checks the free space of each directory (a directory that does not
// exist yet is skipped); the emptiest decides.
func Disk(dirs []string) Check {
	var worst string
	var free uint64 = 1<<64 - 1
	for _, d := range dirs {
		var st syscall.Statfs_t
		if d == "" || syscall.Statfs(d, &st) != nil {
			continue
		}
		if f := st.Bavail * uint64(st.Bsize); f < free {
			free, worst = f, d
		}
	}
	if worst == "" {
		return Check{Status: Skip, Key: "preflight.disk.ok", Args: []any{"?", strings.Join(dirs, ", ")}}
	}
	c := Check{Status: OK, Key: "preflight.disk.ok", Args: []any{Bytes(int64(free)), worst}}
	switch {
	case free < DiskFail:
		c.Status, c.Key, c.Fix = Fail, "preflight.disk.low", "preflight.disk.fix"
	case free < DiskLow:
		c.Status, c.Key, c.Fix = Warn, "preflight.disk.low", "preflight.disk.fix"
	}
	return c
}

// MemoryRoom is how many sandboxes at their limit must fit for memory to be
// no concern.
const MemoryRoom = 5

// Memory checks the memory this machine has available against sandboxes
// of perSandbox bytes (their limit).
func Memory(perSandbox int64) Check {
	avail, err := MemAvailable()
	if err != nil || perSandbox <= 0 {
		c := Check{Status: Skip, Key: "preflight.memory.ok", Args: []any{"?", 0, Bytes(perSandbox)}}
		if err != nil {
			c.Detail = err.Error()
		}
		return c
	}
	room := int(avail / perSandbox)
	c := Check{Status: OK, Key: "preflight.memory.ok", Args: []any{Bytes(avail), room, Bytes(perSandbox)}}
	if room < MemoryRoom {
		c.Status, c.Key, c.Fix = Warn, "preflight.memory.low", "preflight.memory.fix"
	}
	return c
}

// MemAvailable reads MemAvailable from /proc/meminfo: what the machine can
// still give without swapping.
func MemAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemAvailable")
}

// Bytes says n in GiB or MiB.
func Bytes(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
