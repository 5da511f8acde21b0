package server

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Charts are drawn on the server as small inline SVGs: no script, no
// library, and they print.

type bar struct {
	Label string
	Value float64
	Text  string // shown at the end of the bar
}

// barChart draws horizontal bars, one per item.
func barChart(title string, bars []bar) template.HTML {
	const width, labelW, rowH = 560, 160, 22
	max := 0.0
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	h := rowH*len(bars) + 28
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, width, h, width, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&sb, `<text x="0" y="14" class="chart-title">%s</text>`, template.HTMLEscapeString(title))
	for i, b := range bars {
		y := 24 + i*rowH
		w := 0.0
		if max > 0 {
			w = b.Value / max * float64(width-labelW-70)
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="chart-label" text-anchor="end">%s</text>`, labelW-6, y+14, template.HTMLEscapeString(b.Label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" class="chart-bar"/>`, labelW, y+3, w, rowH-6)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="chart-value">%s</text>`, float64(labelW)+w+4, y+14, template.HTMLEscapeString(b.Text))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// lineChart draws a step line of cumulative counts over time.
func lineChart(title string, times []time.Time, total int) template.HTML {
	const width, height, left, bottom = 560, 180, 40, 24
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, width, height, width, height, template.HTMLEscapeString(title))
	fmt.Fprintf(&sb, `<text x="0" y="14" class="chart-title">%s</text>`, template.HTMLEscapeString(title))
	if len(times) == 0 || total == 0 {
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="chart-label">—</text></svg>`, left, height/2)
		return template.HTML(sb.String())
	}
	start, end := times[0], times[len(times)-1]
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	plotW, plotH := float64(width-left-10), float64(height-bottom-24)
	x := func(t time.Time) float64 { return float64(left) + float64(t.Sub(start))/float64(end.Sub(start))*plotW }
	y := func(n int) float64 { return 24 + plotH - float64(n)/float64(total)*plotH }
	points := []string{fmt.Sprintf("%.1f,%.1f", x(start), y(0))}
	for i, t := range times {
		points = append(points, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(t), y(i), x(t), y(i+1)))
	}
	fmt.Fprintf(&sb, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="chart-axis"/>`, left, y(0), width-10, y(0))
	fmt.Fprintf(&sb, `<text x="%d" y="%.1f" class="chart-label" text-anchor="end">%d</text>`, left-4, y(total)+4, total)
	fmt.Fprintf(&sb, `<text x="%d" y="%.1f" class="chart-label" text-anchor="end">0</text>`, left-4, y(0)+4)
	fmt.Fprintf(&sb, `<polyline points="%s" class="chart-line"/>`, strings.Join(points, " "))
	fmt.Fprintf(&sb, `<text x="%d" y="%d" class="chart-label">%s</text>`, left, height-4, start.Local().Format("01-02 15:04"))
	fmt.Fprintf(&sb, `<text x="%d" y="%d" class="chart-label" text-anchor="end">%s</text>`, width-10, height-4, end.Local().Format("01-02 15:04"))
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}
