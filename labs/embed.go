// Package labs is the built-in course: one folder per lab with its guide in
// each language (lab.md, lab.en.md, …). images/ holds the sandbox images.
package labs

import "embed"

// Course holds every lab's Markdown.
//
//go:embed */lab*.md
var Course embed.FS
