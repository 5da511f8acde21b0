// Package config holds the server's settings, with defaults, read from
// flags and HANDSON_* environment variables.
package config

import (
	"flag"
	"fmt"
	"handson/internal/sandbox"
	"net"
	"os"
	"strconv"
	"time"
)

// Config is everything `handson serve` can be told.
type Config struct {
	Addr          string
	DataDir       string
	LabsDir       string // empty: the built-in course
	Image         string
	MemoryMB      int64
	CPUs          float64
	Pids          int64
	OpenFiles     int64
	DiskMB        int64
	IdleStop      time.Duration
	MaxAge        time.Duration
	MaxStarts     int
	WarmPool      int
	MemReserveMB  int64
	CheckTimeout  time.Duration
	TermGrace     time.Duration
	RecordDir     string
	SecureCookies bool
	PreviewDomain string // web preview hosts are <port>-<id>.PreviewDomain; empty: off
	LogFormat     string
	LogLevel      string
	// RegistryAddr is where sandboxes reach the classroom registry (an
	// address of this host); empty runs without one.
	RegistryAddr string
	// RegistryUpstream, when set, adds a pull-through cache of it.
	RegistryUpstream string
}

// Default is the configuration `make run` uses.
func Default() Config {
	return Config{
		// Browsers resolve *.localhost to loopback: right for a platform
		// opened at 127.0.0.1 or localhost; a server others reach needs a
		// wildcard DNS name of its own (docs/deployment.md).
		PreviewDomain: "preview.localhost",

		Addr:         "127.0.0.1:8080",
		DataDir:      "data",
		Image:        "handson/sandbox:latest",
		MemoryMB:     1024,
		CPUs:         1,
		Pids:         512,
		OpenFiles:    8192,
		DiskMB:       5120,
		MemReserveMB: 1024,
		IdleStop:     30 * time.Minute,
		MaxAge:       30 * 24 * time.Hour,
		MaxStarts:    4,
		CheckTimeout: 30 * time.Second,
		TermGrace:    5 * time.Minute,
		LogFormat:    "text",
		LogLevel:     "info",
		RegistryAddr: "172.17.0.1:5000", // the host's docker0 address
	}
}

// Flags registers every setting on fs; an environment variable, when set,
// replaces the default shown in -help.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", env("HANDSON_ADDR", c.Addr), "listen address (HANDSON_ADDR)")
	fs.StringVar(&c.PreviewDomain, "preview-domain", env("HANDSON_PREVIEW_DOMAIN", c.PreviewDomain), "web preview: a student's port P is served at <P>-<id>.DOMAIN[:port] (wildcard DNS to this server); empty turns the preview off (HANDSON_PREVIEW_DOMAIN)")
	fs.StringVar(&c.DataDir, "data", env("HANDSON_DATA", c.DataDir), "data directory: SQLite file, first admin password (HANDSON_DATA)")
	fs.StringVar(&c.LabsDir, "labs", env("HANDSON_LABS", c.LabsDir), "labs directory; empty serves the built-in course (HANDSON_LABS)")
	fs.StringVar(&c.Image, "image", env("HANDSON_IMAGE", c.Image), "default sandbox image (HANDSON_IMAGE)")
	fs.Int64Var(&c.MemoryMB, "sandbox-memory", envInt("HANDSON_SANDBOX_MEMORY_MB", c.MemoryMB), "memory per sandbox in MiB (HANDSON_SANDBOX_MEMORY_MB)")
	fs.Float64Var(&c.CPUs, "sandbox-cpus", envFloat("HANDSON_SANDBOX_CPUS", c.CPUs), "CPUs per sandbox (HANDSON_SANDBOX_CPUS)")
	fs.Int64Var(&c.Pids, "sandbox-pids", envInt("HANDSON_SANDBOX_PIDS", c.Pids), "process limit per sandbox (HANDSON_SANDBOX_PIDS)")
	fs.Int64Var(&c.OpenFiles, "sandbox-nofile", envInt("HANDSON_SANDBOX_NOFILE", c.OpenFiles), "open files per process in a sandbox (HANDSON_SANDBOX_NOFILE)")
	fs.Int64Var(&c.DiskMB, "sandbox-disk", envInt("HANDSON_SANDBOX_DISK_MB", c.DiskMB), "MiB a sandbox may write before it is stopped; 0: unwatched (HANDSON_SANDBOX_DISK_MB)")
	fs.DurationVar(&c.IdleStop, "idle-stop", envDuration("HANDSON_IDLE_STOP", c.IdleStop), "stop a sandbox after this long without keystrokes or checks; 0: never (HANDSON_IDLE_STOP)")
	fs.DurationVar(&c.MaxAge, "max-age", envDuration("HANDSON_MAX_AGE", c.MaxAge), "remove a sandbox this long after it was created; 0: never (HANDSON_MAX_AGE)")
	fs.IntVar(&c.MaxStarts, "max-starts", int(envInt("HANDSON_MAX_STARTS", int64(c.MaxStarts))), "sandboxes starting at once; more wait in line (HANDSON_MAX_STARTS)")
	fs.Int64Var(&c.MemReserveMB, "mem-reserve", envInt("HANDSON_MEM_RESERVE_MB", c.MemReserveMB), "MiB of memory kept free: starts beyond it wait in line; 0: not checked (HANDSON_MEM_RESERVE_MB)")
	fs.IntVar(&c.WarmPool, "warm-pool", int(envInt("HANDSON_WARM_POOL", int64(c.WarmPool))), "ready sandboxes kept per lab in demand, handed out at once; 0: none (HANDSON_WARM_POOL)")
	fs.DurationVar(&c.CheckTimeout, "check-timeout", c.CheckTimeout, "time a check script may run")
	fs.DurationVar(&c.TermGrace, "terminal-grace", envDuration("HANDSON_TERMINAL_GRACE", c.TermGrace), "how long a shell outlives its last browser tab (HANDSON_TERMINAL_GRACE)")
	fs.StringVar(&c.RecordDir, "record-terminals", env("HANDSON_RECORD_TERMINALS", c.RecordDir), "record every terminal session (asciicast v2) into this directory; students see that they are recorded (HANDSON_RECORD_TERMINALS)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", os.Getenv("HANDSON_SECURE_COOKIES") == "true", "Secure, __Host- cookies; set when served over TLS (HANDSON_SECURE_COOKIES)")
	fs.StringVar(&c.RegistryAddr, "registry-addr", env("HANDSON_REGISTRY_ADDR", c.RegistryAddr), "address of this host where sandboxes reach the classroom registry (the only host port the sandbox firewall opens); empty: no registry (HANDSON_REGISTRY_ADDR)")
	fs.StringVar(&c.RegistryUpstream, "registry-upstream", env("HANDSON_REGISTRY_UPSTREAM", c.RegistryUpstream), "also serve a pull-through cache of this registry, e.g. https://registry-1.docker.io, for everything outside the students' namespaces (HANDSON_REGISTRY_UPSTREAM)")
	fs.StringVar(&c.LogFormat, "log-format", env("HANDSON_LOG_FORMAT", c.LogFormat), "text or json (HANDSON_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", env("HANDSON_LOG_LEVEL", c.LogLevel), "debug, info, warn or error (HANDSON_LOG_LEVEL)")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.MemoryMB < 256:
		return fmt.Errorf("sandbox-memory %d MiB: at least 256 MiB is needed for a Docker daemon", c.MemoryMB)
	case c.CPUs <= 0:
		return fmt.Errorf("sandbox-cpus must be positive")
	case c.Pids < 64:
		return fmt.Errorf("sandbox-pids %d: at least 64 are needed", c.Pids)
	case c.OpenFiles < 1024:
		return fmt.Errorf("sandbox-nofile %d: a Docker daemon needs at least 1024", c.OpenFiles)
	case c.MaxStarts < 1:
		return fmt.Errorf("max-starts must be at least 1")
	case c.DiskMB < 0 || c.MemReserveMB < 0 || c.IdleStop < 0 || c.MaxAge < 0 || c.WarmPool < 0:
		return fmt.Errorf("sandbox-disk, idle-stop, max-age and warm-pool cannot be negative")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log-format %q: use text or json", c.LogFormat)
	case c.RegistryAddr != "" && c.RegistryPort() == 0:
		return fmt.Errorf("registry-addr %q: want IP:port, e.g. 172.17.0.1:5000, or empty for no registry", c.RegistryAddr)
	case c.RegistryUpstream != "" && c.RegistryAddr == "":
		return fmt.Errorf("registry-upstream needs a registry (registry-addr)")
	}
	return nil
}

// SandboxSpec is the sandbox of a lab that names no image or resources.
func (c Config) SandboxSpec() sandbox.Spec {
	return sandbox.Spec{Image: c.Image, Limits: sandbox.Limits{
		MemoryBytes: c.MemoryMB << 20, CPUs: c.CPUs, Pids: c.Pids, OpenFiles: c.OpenFiles,
	}}
}

// RegistryPort is the port of RegistryAddr, the one host port sandboxes
// may reach; 0 without a registry.
func (c Config) RegistryPort() int {
	_, p, err := net.SplitHostPort(c.RegistryAddr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
