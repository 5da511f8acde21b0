package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"handson/internal/config"
	"handson/internal/store"
)

// backup writes a consistent copy of the database while the server runs.
func backup(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fl := flag.NewFlagSet("handson backup", flag.ContinueOnError)
	fl.SetOutput(stderr)
	data := fl.String("data", envOr("HANDSON_DATA", cfg.DataDir), "data directory (HANDSON_DATA)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: handson backup [-data DIR] FILE")
		return 2
	}
	src := filepath.Join(*data, "handson.db")
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintln(stderr, "handson backup:", err)
		return 1
	}
	ctx := context.Background()
	db, err := store.Open(ctx, src)
	if err != nil {
		fmt.Fprintln(stderr, "handson backup:", err)
		return 1
	}
	defer db.Close()
	if err := db.Backup(ctx, fl.Arg(0)); err != nil {
		fmt.Fprintln(stderr, "handson backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", src, fl.Arg(0))
	return 0
}
