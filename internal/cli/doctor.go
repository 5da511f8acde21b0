package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"handson/internal/config"
	"handson/internal/i18n"
	"handson/internal/platform"
)

// doctor checks this host as `handson serve` would before it takes
// students, with a canary sandbox of its own, and says what is wrong and
// how to fix it. Exit 0: ready (maybe with warnings); 1: not ready.
func doctor(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fl := flag.NewFlagSet("handson doctor", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfg.Flags(fl)
	lang := fl.String("lang", envLang(), "language of the report: en or ja")
	canary := fl.Bool("canary", true, "start a test sandbox (about 10 s); -canary=false checks only the host")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: handson doctor [-lang ja] [-canary=false] [serve's flags]\n\n"+
			"Checks what sandboxes need of this host (Docker, user namespaces, devices, seccomp,\n"+
			"firewall, images, classroom registry, disk, memory), then starts a test sandbox whose\n"+
			"Docker runs hello-world. Each problem comes with its fix. Exit status 1: not ready.")
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !i18n.Supported(*lang) {
		fmt.Fprintf(stderr, "handson doctor: -lang %q: use one of %s\n", *lang, strings.Join(i18n.Langs, ", "))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	fmt.Fprintln(stdout, i18n.T(*lang, "doctor.title"))
	rep, err := platform.Doctor(ctx, cfg, *canary, log)
	if err != nil {
		fmt.Fprintln(stderr, "handson doctor:", err)
		return 2
	}
	rep.Print(stdout, *lang)
	if !rep.Ready() {
		return 1
	}
	return 0
}

// envLang is the report's language from the environment (LANG=ja_JP.UTF-8).
func envLang() string {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if l := os.Getenv(v); l != "" {
			if strings.HasPrefix(l, "ja") {
				return "ja"
			}
			return "en"
		}
	}
	return "en"
}
