// Package cli is the handson command: it parses arguments and wires the
// store, the sandbox engine and the server together.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const usage = `handson — hands-on container labs

Usage:
  handson serve [flags]            start the platform (handson serve -help for flags)
  handson lab lint DIR...          check lab files and report every problem
  handson lab test DIR...          prove labs: each check fails before its solve and passes after; cheats fail, variants pass
  handson doctor [-lang ja]        check what sandboxes need of this host, and say how to fix it
  handson user add [flags] NAME    create an account; prints its password
  handson backup [-data DIR] FILE  a consistent copy of the database, while serving
`

// Main runs the command line and returns the exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "lab":
		return lab(args[1:], stdout, stderr)
	case "user":
		return user(args[1:], stdout, stderr)
	case "doctor":
		return doctor(args[1:], stdout, stderr)
	case "backup":
		return backup(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "handson: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.LevelVar
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: &lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
