package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Figure is one number a scenario measured.
type Figure struct {
	Name  string  `json:"name"` // "p50", "mean", … ("" for the row's one figure)
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"` // "s", "MiB", "%" or "" (a count)
	// Worse says which way is bad: "higher", "lower" or "" (neither). It
	// picks a figure's worst of several runs.
	Worse string `json:"worse,omitempty"`
	// Alarm: shown only when not zero, in bold (failures).
	Alarm bool `json:"alarm,omitempty"`
}

// A Row is a line of the results table.
type Row struct {
	Measurement string   `json:"measurement"`
	Figures     []Figure `json:"figures"`
	Text        string   `json:"text,omitempty"` // printed after the figures
	Target      string   `json:"target,omitempty"`
	Met         *bool    `json:"met,omitempty"` // nil: no target
}

// A Result is what one run of a scenario measured, on its own platform:
// the unit of -json (one JSON object a line).
type Result struct {
	Scenario string    `json:"scenario"`
	Run      int       `json:"run"`
	Build    string    `json:"build"` // the harness's commit (and so the platform's)
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  []string  `json:"machine,omitempty"` // how busy the host was at each platform start
	Rows     []Row     `json:"rows"`
	Notes    []string  `json:"notes,omitempty"`  // Markdown, under the table
	Errors   []string  `json:"errors,omitempty"` // what went wrong (the figures may be incomplete)
}

func (r *Result) row(measurement, target string, met *bool, text string, figs ...Figure) {
	r.Rows = append(r.Rows, Row{Measurement: measurement, Figures: figs, Text: text, Target: target, Met: met})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) errorf(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}

// met is a row's target verdict.
func met(ok bool) *bool { return &ok }

// Figure constructors: a time, a size, a share of a core, a count.
func secs(name string, d time.Duration) Figure {
	return Figure{Name: name, Value: d.Seconds(), Unit: "s", Worse: "higher"}
}
func mib(name string, v float64) Figure {
	return Figure{Name: name, Value: v, Unit: "MiB", Worse: "higher"}
}
func pct(name string, v float64) Figure {
	return Figure{Name: name, Value: v, Unit: "%", Worse: "higher"}
}
func count(name string, n int, worse string) Figure {
	return Figure{Name: name, Value: float64(n), Worse: worse}
}
func alarm(name string, n int) Figure {
	return Figure{Name: name, Value: float64(n), Worse: "higher", Alarm: true}
}

func (f Figure) value(v float64) string { return f.number(v) + f.suffix() }

func (f Figure) number(v float64) string {
	switch f.Unit {
	case "s", "%":
		return fmt.Sprintf("%.2f", v)
	case "MiB":
		return fmt.Sprintf("%.1f", v)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func (f Figure) suffix() string {
	switch f.Unit {
	case "", "%":
		return f.Unit
	}
	return " " + f.Unit
}

// worst of the values of one figure over several runs.
func (f Figure) worst(vs []float64) (float64, bool) {
	switch f.Worse {
	case "higher":
		return slices.Max(vs), true
	case "lower":
		return slices.Min(vs), true
	}
	return 0, false
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// cell renders a figure over runs: the value of a single run, else its
// median and worst ("0.95 / 1.20 s").
func (f Figure) cell(vs []float64) string {
	if len(vs) == 1 {
		return f.value(vs[0])
	}
	w, ok := f.worst(vs)
	if !ok {
		return f.value(median(vs))
	}
	return f.number(median(vs)) + " / " + f.number(w) + f.suffix()
}

// A Line is a row of the table over the runs of a scenario: each of its
// figures with one value per run.
type Line struct {
	Row
	Values [][]float64 // per figure, per run
	Texts  []string    // per run
	Mets   []*bool     // per run
}

// merge lines up the rows of several runs of a scenario by measurement, in
// the order they first appear.
func merge(results []Result) []*Line {
	var lines []*Line
	byName := map[string]*Line{}
	for _, res := range results {
		for _, row := range res.Rows {
			l, ok := byName[row.Measurement]
			if !ok {
				l = &Line{Row: Row{Measurement: row.Measurement, Target: row.Target}}
				byName[row.Measurement] = l
				lines = append(lines, l)
			}
			for _, f := range row.Figures {
				i := slices.IndexFunc(l.Figures, func(g Figure) bool { return g.Name == f.Name })
				if i < 0 {
					l.Figures = append(l.Figures, f)
					l.Values = append(l.Values, nil)
					i = len(l.Figures) - 1
				}
				l.Values[i] = append(l.Values[i], f.Value)
			}
			l.Texts = append(l.Texts, row.Text)
			l.Mets = append(l.Mets, row.Met)
		}
	}
	return lines
}

// result is the table's result cell.
func (l *Line) result() string {
	var parts []string
	for i, f := range l.Figures {
		vs := l.Values[i]
		if f.Alarm {
			if slices.Max(vs) == 0 {
				continue
			}
			parts = append(parts, "**"+f.Name+" "+f.cell(vs)+"**")
			continue
		}
		parts = append(parts, strings.TrimSpace(f.Name+" "+f.cell(vs)))
	}
	out := strings.Join(parts, ", ")
	texts := slices.Compact(slices.Clone(l.Texts))
	switch {
	case len(texts) == 1 && texts[0] != "":
		out = strings.TrimSpace(out + " " + texts[0])
	case len(texts) > 1:
		var each []string
		for i, t := range l.Texts {
			each = append(each, fmt.Sprintf("run %d: %s", i+1, t))
		}
		out = strings.TrimSpace(out + " (" + strings.Join(each, "; ") + ")")
	}
	if out == "" {
		return "no samples"
	}
	return out
}

// verdict is the met? cell: yes when every run met the target.
func (l *Line) verdict() string {
	if l.Target == "" {
		return "—"
	}
	n, no := 0, 0
	for _, m := range l.Mets {
		if m != nil {
			n++
			if !*m {
				no++
			}
		}
	}
	switch {
	case n == 0:
		return "—"
	case no == 0:
		return "yes"
	case n == 1:
		return "**no**"
	}
	return fmt.Sprintf("**no** (%d of %d runs)", no, n)
}

func cleanCell(s string) string {
	return strings.NewReplacer("\n", " ", "|", "\\|").Replace(s)
}

// report writes the Markdown report of results (in the order run).
func report(w io.Writer, machine, command string, runs int, results []Result) {
	fmt.Fprintf(w, "%s\n\n", machine)
	if runs > 1 {
		fmt.Fprintf(w, "Each figure: median / worst of %d runs, each on a freshly started platform.\n\n", runs)
	}
	fmt.Fprintln(w, "| measurement | result | target | met? |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, group := range byScenario(results) {
		for _, l := range merge(group) {
			target := l.Target
			if target == "" {
				target = "—"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", cleanCell(l.Measurement), cleanCell(l.result()), cleanCell(target), l.verdict())
		}
	}
	fmt.Fprintf(w, "\nCommand: `%s`\n", command)
	var env []string
	for _, res := range results {
		env = append(env, res.Machine...)
	}
	if len(env) > 0 {
		fmt.Fprint(w, "\nThe machine while the benchmarks ran (other work on it skews the numbers):\n\n")
		for _, e := range env {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
	for _, res := range results {
		if len(res.Notes) == 0 {
			continue
		}
		fmt.Fprintln(w)
		if runs > 1 {
			fmt.Fprintf(w, "%s, run %d:\n\n", res.Scenario, res.Run)
		}
		fmt.Fprintln(w, strings.Join(res.Notes, "\n"))
	}
	var failed []string
	for _, res := range results {
		for _, e := range res.Errors {
			failed = append(failed, fmt.Sprintf("- %s, run %d: %s", res.Scenario, res.Run, e))
		}
	}
	if len(failed) > 0 {
		fmt.Fprint(w, "\n**Errors: the table may be incomplete; the log on stderr says more.**\n\n")
		fmt.Fprintln(w, strings.Join(failed, "\n"))
	}
}

// byScenario groups results by scenario, in the order first run.
func byScenario(results []Result) [][]Result {
	var order []string
	groups := map[string][]Result{}
	for _, r := range results {
		if _, ok := groups[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		groups[r.Scenario] = append(groups[r.Scenario], r)
	}
	var out [][]Result
	for _, s := range order {
		out = append(out, groups[s])
	}
	return out
}

// readResults reads a -json file: one Result a line.
func readResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// compare writes a table of every figure of two sets of results side by
// side: median / worst of each, and how far the second's median moved.
func compare(w io.Writer, nameA, nameB string, a, b []Result) {
	fmt.Fprintf(w, "Each cell: median / worst of its runs (%s: %d, %s: %d).\n\n", nameA, len(a), nameB, len(b))
	fmt.Fprintf(w, "| measurement | figure | %s | %s | change of the median |\n", nameA, nameB)
	fmt.Fprintln(w, "|---|---|---|---|---|")
	type key struct{ measurement, figure string }
	cells := map[key][2]string{}
	medians := map[key][2]float64{}
	have := map[key][2]bool{}
	var order []key
	var figs = map[key]Figure{}
	for side, results := range [][]Result{a, b} {
		for _, group := range byScenario(results) {
			for _, l := range merge(group) {
				for i, f := range l.Figures {
					k := key{l.Measurement, f.Name}
					if _, ok := figs[k]; !ok {
						figs[k] = f
						order = append(order, k)
					}
					c, m, h := cells[k], medians[k], have[k]
					c[side], m[side], h[side] = f.cell(l.Values[i]), median(l.Values[i]), true
					cells[k], medians[k], have[k] = c, m, h
				}
			}
		}
	}
	for _, k := range order {
		c, m, h := cells[k], medians[k], have[k]
		change := "—"
		if h[0] && h[1] && m[0] != 0 {
			change = fmt.Sprintf("%+.0f%%", (m[1]-m[0])/math.Abs(m[0])*100)
			if f := figs[k]; (f.Worse == "higher" && m[1] > m[0]) || (f.Worse == "lower" && m[1] < m[0]) {
				change += " worse"
			}
		} else if h[0] && h[1] && m[1] != m[0] {
			change = "from 0"
		}
		for i := range c {
			if !h[i] {
				c[i] = "—"
			}
		}
		name := k.figure
		if name == "" {
			name = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cleanCell(k.measurement), cleanCell(name), c[0], c[1], change)
	}
}
