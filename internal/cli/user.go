package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/store"
)

// user add creates an account (registration and rosters come with classes).
func user(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: handson user add [-role student|instructor|admin] [-data DIR] NAME")
		return 2
	}
	cfg := config.Default()
	fl := flag.NewFlagSet("handson user add", flag.ContinueOnError)
	fl.SetOutput(stderr)
	data := fl.String("data", envOr("HANDSON_DATA", cfg.DataDir), "data directory (HANDSON_DATA)")
	role := fl.String("role", store.RoleStudent, "student, instructor or admin")
	password := fl.String("password", "", "password (default: a new random one, printed)")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(stderr, "handson user add: give exactly one NAME")
		return 2
	}
	if *role != store.RoleStudent && *role != store.RoleInstructor && *role != store.RoleAdmin {
		fmt.Fprintf(stderr, "handson user add: unknown role %q\n", *role)
		return 2
	}
	pw := *password
	if pw == "" {
		pw = auth.NewPassword()
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, "handson user add:", err)
		return 1
	}
	ctx := context.Background()
	if err := os.MkdirAll(*data, 0o700); err != nil {
		fmt.Fprintln(stderr, "handson user add:", err)
		return 1
	}
	db, err := store.Open(ctx, filepath.Join(*data, "handson.db"))
	if err != nil {
		fmt.Fprintln(stderr, "handson user add:", err)
		return 1
	}
	defer db.Close()
	u := &store.User{Username: fl.Arg(0), PasswordHash: hash, Role: *role}
	if err := db.CreateUser(ctx, u); err != nil {
		fmt.Fprintln(stderr, "handson user add:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created %s (%s), password: %s\n", u.Username, u.Role, pw)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
