package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// What the host looks like, from /proc and the cgroup files: the figures
// of memory and CPU, and how busy the machine was.

type meminfo struct{ total, avail uint64 } // bytes, /proc/meminfo

func (m meminfo) used() uint64 { return m.total - m.avail }

func readMeminfo() meminfo {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return meminfo{}
	}
	defer f.Close()
	var m meminfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "MemTotal:":
			m.total = v << 10
		case "MemAvailable:":
			m.avail = v << 10
		}
	}
	return m
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func toMiB(n uint64) float64 { return float64(n) / (1 << 20) }

// running counts the containers running on the daemon (ours and others').
func running(cli *client.Client) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return -1
	}
	return len(cs.Items)
}

// machineLine says what the figures were measured on, and with which code.
func machineLine(cli *client.Client, started time.Time) string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	dockerVersion := "?"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{}); err == nil {
		dockerVersion = v.Version
	}
	return fmt.Sprintf("Run %s on %d cores, %.1f GiB RAM, kernel %s, Docker %s; %s.",
		started.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), float64(readMeminfo().total)/(1<<30),
		strings.TrimSpace(string(kernel)), dockerVersion, buildDescription())
}

// commit is the commit handson-bench is built from, with "+" when the
// tree had local changes: scripts/bench.sh sets it with
// -ldflags "-X main.commit=…" (go build stamps no commit in a git
// worktree, where scripts/bench-compare.sh builds the old one).
var commit string

// buildCommit is commit, else the commit go build stamped; "" if none.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(rev) > 10 {
		rev = rev[:10]
	}
	if rev != "" && modified == "true" {
		rev += "+"
	}
	return rev
}

func buildDescription() string {
	c := buildCommit()
	switch {
	case c == "":
		return "commit unknown (build it with scripts/bench.sh)"
	case strings.HasSuffix(c, "+"):
		return "commit " + strings.TrimSuffix(c, "+") + " + local changes"
	}
	return "commit " + c
}

// cgroupStat is one container's memory and CPU: the host's cgroup of the
// whole sandbox (its dockerd, shell, everything).
type cgroupStat struct {
	usage, cache, inactiveFile, rss uint64
	cpu                             uint64 // ns of CPU used so far
}

// working is what `docker stats` shows: usage minus inactive file pages.
func (c cgroupStat) working() uint64 { return c.usage - min(c.usage, c.inactiveFile) }

// noCache is usage minus the whole page cache.
func (c cgroupStat) noCache() uint64 { return c.usage - min(c.usage, c.cache) }

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// cgroupV1 reads a container's cgroup from the host's files (cgroup v1
// with the cgroupfs driver, as on the project's hosts).
func cgroupV1(id string) (cgroupStat, bool) {
	mem := "/sys/fs/cgroup/memory/docker/" + id
	usage, err := readUint(mem + "/memory.usage_in_bytes")
	if err != nil {
		return cgroupStat{}, false
	}
	stat, err := os.ReadFile(mem + "/memory.stat")
	if err != nil {
		return cgroupStat{}, false
	}
	c := cgroupStat{usage: usage}
	for _, line := range strings.Split(string(stat), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "total_cache":
			c.cache = n
		case "total_inactive_file":
			c.inactiveFile = n
		case "total_rss":
			c.rss = n
		}
	}
	c.cpu, _ = readUint("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage")
	return c, true
}

// cgroupAPI asks the daemon for a stats sample instead (about a second on
// Docker 20.10).
func cgroupAPI(cli *client.Client, name string) (cgroupStat, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cli.ContainerStats(ctx, name, client.ContainerStatsOptions{})
	if err != nil {
		return cgroupStat{}, err
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return cgroupStat{}, err
	}
	st := s.MemoryStats.Stats
	pick := func(keys ...string) uint64 { // cgroup v1 names first, then v2
		for _, k := range keys {
			if v, ok := st[k]; ok {
				return v
			}
		}
		return 0
	}
	return cgroupStat{
		usage:        s.MemoryStats.Usage,
		cache:        pick("total_cache", "file"),
		inactiveFile: pick("total_inactive_file", "inactive_file"),
		rss:          pick("total_rss", "anon"),
		cpu:          s.CPUStats.CPUUsage.TotalUsage,
	}, nil
}

// shimPss is the proportional memory of the containerd shim that holds
// container id: a per-sandbox cost outside the sandbox's cgroup.
func shimPss(id string) (uint64, bool) {
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("containerd-shim")) || !bytes.Contains(cmd, []byte(id)) {
			continue
		}
		roll, err := os.ReadFile("/proc/" + d.Name() + "/smaps_rollup")
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(string(roll), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
