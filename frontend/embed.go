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

// Icons is the platform's favicon: favicon.svg, which the pages link, and
// favicon.ico, the same icon as a 32 px PNG, for clients that only ask
// for /favicon.ico (made with `chromium --headless --window-size=32,32
// --default-background-color=00000000 --screenshot favicon.svg`, the PNG
// then wrapped in an ICO header).
//
//go:embed icons
var icons embed.FS

var Icons, _ = fs.Sub(icons, "icons")
