package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"handson/internal/config"
	"handson/internal/platform"
)

func serve(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fl := flag.NewFlagSet("handson serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfg.Flags(fl)
	dev := fl.Bool("dev", false, "re-read the -labs directory when it changes, for lab authors")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *dev && cfg.LabsDir == "" {
		fmt.Fprintln(stderr, "handson serve: -dev needs -labs DIR (the built-in course does not change)")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "handson serve:", err)
		return 2
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "handson serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, log, stdout, *dev); err != nil {
		log.Error("handson serve failed", "err", err)
		return 1
	}
	return 0
}

// runServer starts everything and blocks until ctx ends.
func runServer(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, dev bool) error {
	p, err := platform.Start(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	if dev {
		go watchLabs(ctx, cfg.LabsDir, p.Server, log)
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Close(shutdown)
}
