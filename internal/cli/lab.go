package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"handson/content"
)

func lab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "lint":
		return lint(args[1:], stdout, stderr)
	case "test":
		fmt.Fprintln(stderr, "handson lab test: not yet available; `handson lab lint` checks the format meanwhile")
		return 2
	}
	fmt.Fprintf(stderr, "handson lab: unknown command %q\n", args[0])
	return 2
}

// lint prints every problem in the labs under each DIR as file:line:col.
func lint(dirs []string, stdout, stderr io.Writer) int {
	if len(dirs) == 0 {
		fmt.Fprintln(stderr, "usage: handson lab lint DIR...")
		return 2
	}
	bad := false
	for _, dir := range dirs {
		course, err := content.Load(os.DirFS(dir))
		var errs content.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintf(stdout, "%s/%s\n", dir, e)
			}
			bad = true
		} else if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", dir, err)
			bad = true
		}
		if course != nil && len(course.Labs()) == 0 && err == nil {
			fmt.Fprintf(stdout, "%s: no labs found (each lab is a folder with a lab.md)\n", dir)
			bad = true
		}
	}
	if bad {
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
