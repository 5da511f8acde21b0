// Command handson serves hands-on container labs. See README.md.
package main

import (
	"os"

	"handson/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
