package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDistPercentiles(t *testing.T) {
	var d dist
	for i := 1; i <= 10; i++ {
		d = append(d, time.Duration(i)*time.Second)
	}
	if d.pct(50) != 5*time.Second || d.pct(95) != 10*time.Second || d.pct(100) != 10*time.Second {
		t.Errorf("p50 %v, p95 %v, max %v; want 5s, 10s (nearest rank), 10s", d.pct(50), d.pct(95), d.pct(100))
	}
}

// results of one scenario over runs: one row, a time and a count that is
// worse when lower.
func results(prompts []float64, counts []int, met []bool) []Result {
	var out []Result
	for i := range prompts {
		r := Result{Scenario: "open", Run: i + 1, Build: "abc"}
		ok := met[i]
		r.row("open → prompt", "p50 ≤ 1.5 s", &ok, "(n=3)",
			Figure{Name: "p50", Value: prompts[i], Unit: "s", Worse: "higher"},
			alarm("failed", 0))
		r.row("density", "", nil, "", count("", counts[i], "lower"))
		out = append(out, r)
	}
	return out
}

func TestReportMedianAndWorst(t *testing.T) {
	var b bytes.Buffer
	report(&b, "Run …", "handson-bench -runs 3", 3, results([]float64{1.0, 3.0, 1.2}, []int{29, 25, 30}, []bool{true, false, true}))
	out := b.String()
	for _, want := range []string{
		"median / worst of 3 runs",
		"| open → prompt | p50 1.20 / 3.00 s (n=3) | p50 ≤ 1.5 s | **no** (1 of 3 runs) |",
		"| density | 29 / 25 | — | — |", // worst of a count that is bad when low: the least
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("a zero alarm figure is shown:\n%s", out)
	}
}

func TestReportOneRun(t *testing.T) {
	var b bytes.Buffer
	rs := results([]float64{0.9}, []int{50}, []bool{true})
	rs[0].Rows[0].Figures[1].Value = 2
	report(&b, "Run …", "handson-bench", 1, rs)
	if want := "| open → prompt | p50 0.90 s, **failed 2** (n=3) | p50 ≤ 1.5 s | yes |"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}

func TestCompareThroughJSON(t *testing.T) {
	dir := t.TempDir()
	old, new := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")
	var errs bytes.Buffer
	for path, rs := range map[string][]Result{old: results([]float64{2, 2.2}, []int{29, 29}, []bool{false, false}), new: results([]float64{1, 1.1}, []int{40, 30}, []bool{true, true})} {
		for _, r := range rs {
			writeResult(t, path, r)
		}
	}
	var b bytes.Buffer
	if code := runMain([]string{"compare", "-names", "old,new", old, new}, &b, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{
		"| measurement | figure | old | new | change of the median |",
		"| open → prompt | p50 | 2.10 / 2.20 s | 1.05 / 1.10 s | -50% |",
		"| density | — | 29 / 29 | 35 / 30 | +21% |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runMain([]string{"-scenario", "nope"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), `no scenario "nope"`) {
		t.Errorf("unknown scenario: exit %d, %s", code, errs.String())
	}
	errs.Reset()
	if code := runMain([]string{"-runs", "0"}, &out, &errs); code != 2 {
		t.Errorf("-runs 0: exit %d, %s", code, errs.String())
	}
	if s, err := pick("density,open"); err != nil || len(s) != 2 || s[0].name != "density" {
		t.Errorf("pick: %v, %v", s, err)
	}
}

func writeResult(t *testing.T, path string, r Result) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(r); err != nil {
		t.Fatal(err)
	}
}
