// Package labs is the built-in course: one folder per lab with its guide in
// each language (lab.md, lab.en.md, …). images/ holds the sandbox images.
package labs

import "embed"

// Course holds every lab's Markdown and assets/ folder (all: keeps files
// such as .dockerignore, as a lab folder on disk would).
//
//go:embed */lab*.md all:*/assets
var Course embed.FS
