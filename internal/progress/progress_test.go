package progress

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func table() *Table {
	labs := []Lab{{ID: "a", Steps: []string{"s1", "s2"}}, {ID: "b", Steps: []string{"t1"}}}
	students := []Student{
		{ID: 1, Username: "alice", Name: "Alice"},
		{ID: 2, Username: "bob", Name: "=HYPERLINK(\"x\")"},
		{ID: 3, Username: "carol", Name: "Carol"},
	}
	stats := []StepStat{
		{UserID: 1, LabID: "a", StepID: "s1", Attempts: 1, Passed: true, FirstAt: at(0), PassedAt: at(0)},
		{UserID: 1, LabID: "a", StepID: "s2", Attempts: 3, Passed: true, FirstAt: at(1), PassedAt: at(5)},
		{UserID: 1, LabID: "b", StepID: "t1", Attempts: 2, Passed: false, FirstAt: at(6), LastMessage: "no nginx"},
		{UserID: 2, LabID: "a", StepID: "s1", Attempts: 4, Passed: false, FirstAt: at(2), LastMessage: "no container"},
		{UserID: 3, LabID: "a", StepID: "s1", Attempts: 2, Passed: true, FirstAt: at(0), PassedAt: at(10)},
		{UserID: 3, LabID: "a", StepID: "s2", Attempts: 1, Passed: true, FirstAt: at(11), PassedAt: at(12)},
		{UserID: 3, LabID: "x", StepID: "gone", Attempts: 1, Passed: true}, // a lab the class does not do
	}
	return Build(labs, students, stats, at(10))
}

func TestBuild(t *testing.T) {
	tb := table()
	want := map[string][]string{"alice": {"passed", "passed", "failed"}, "bob": {"failed", "none", "none"}, "carol": {"passed", "passed", "none"}}
	for _, r := range tb.Students {
		var got []string
		for _, c := range r.Cells {
			got = append(got, c.Status)
		}
		if strings.Join(got, " ") != strings.Join(want[r.Username], " ") {
			t.Errorf("%s: %v, want %v", r.Username, got, want[r.Username])
		}
	}
	// Bob failed 4 times (≥ 3): stuck. Alice failed twice, 4 minutes ago: not yet.
	if len(tb.Stuck) != 1 || tb.Stuck[0].UserID != 2 || tb.Stuck[0].Step != "s1" || tb.Stuck[0].Message != "no container" {
		t.Errorf("stuck = %+v, want bob on a/s1", tb.Stuck)
	}
	// Later, Alice has been on b/t1 for more than 15 minutes.
	later := Build(tb.Labs, []Student{tb.Students[0].Student}, []StepStat{{UserID: 1, LabID: "b", StepID: "t1", Attempts: 1, FirstAt: at(6)}}, at(6).Add(StuckFor+time.Second))
	if len(later.Stuck) != 1 {
		t.Errorf("after %s on a step: stuck = %+v", StuckFor, later.Stuck)
	}
}

func TestGradesCSV(t *testing.T) {
	var b strings.Builder
	if err := table().WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := `username,name,email,a,b,points,max_points,score,last_passed_at
alice,Alice,,2,0,2,3,0.667,2026-12-07T09:05:00Z
bob,"'=HYPERLINK(""x"")",,0,0,0,3,0.000,
carol,Carol,,2,0,2,3,0.667,2026-12-07T09:12:00Z
`
	if b.String() != want {
		t.Errorf("grades:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStats(t *testing.T) {
	st, ok := table().Stats("a")
	if !ok {
		t.Fatal("no stats for lab a")
	}
	if len(st.Finished) != 2 || !st.Finished[0].Equal(at(5)) || !st.Finished[1].Equal(at(12)) {
		t.Errorf("finished %v, want alice at 9:05 then carol at 9:12", st.Finished)
	}
	// s1: alice 0 min, carol 10 min → median 5; failures: carol 1, bob 4.
	// s2: alice 4 min, carol 1 min → 2.5; failures: alice 2.
	want := []StepStats{{"s1", 2, 5, 5}, {"s2", 2, 2.5, 2}}
	for i, w := range want {
		if st.Steps[i] != w {
			t.Errorf("step %d: %+v, want %+v", i, st.Steps[i], w)
		}
	}
	if _, ok := table().Stats("nope"); ok {
		t.Error("stats for a lab the class does not do")
	}
}
