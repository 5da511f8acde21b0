// Package frontend holds the page templates and the built browser bundle
// (dist/, made by `npm run build`; not committed).
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var Templates embed.FS

//go:embed all:dist
var dist embed.FS

// Dist is the built bundle: app.js, app.css and their source maps.
var Dist, _ = fs.Sub(dist, "dist")
