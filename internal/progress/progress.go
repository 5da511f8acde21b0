// Package progress says where a class's students stand: per lab and step,
// passed, failed or not tried; who is stuck; their grades (points over the
// steps with a check, a score between 0 and 1, ready to be sent as partial
// credit); and a lab's statistics. It computes from the step records the
// store keeps and knows nothing of HTTP or SQL.
package progress

import (
	"encoding/csv"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StepStat is one student's record on one step.
type StepStat struct {
	UserID        int64
	LabID, StepID string
	Attempts      int
	Passed        bool
	FirstAt       time.Time // first attempt
	PassedAt      time.Time // first passing attempt; zero if none
	LastMessage   string
}

// Lab is a lab as grades see it: the steps that have a check, in order.
type Lab struct {
	ID, Title string
	Steps     []string
}

// Student is a class's student.
type Student struct {
	ID                    int64
	Username, Name, Email string
}

// A student is stuck on a step after StuckAttempts failed checks, or
// StuckFor since their first, without passing.
const (
	StuckAttempts = 3
	StuckFor      = 15 * time.Minute
)

// Cell is one student's state on one step.
type Cell struct {
	Lab, Step string
	Status    string // none, failed, passed
	Attempts  int
	Message   string // the last check's
	Stuck     bool
	FirstAt   time.Time // first check; zero if none
	PassedAt  time.Time // first passing check; zero if none
}

// Row is one student's cells, in the table's lab and step order.
type Row struct {
	Student
	Cells []Cell
	Done  int       // steps passed
	Last  time.Time // when the last step was passed; zero if none
}

// Stuck is a student stuck on a step.
type Stuck struct {
	UserID    int64
	Name      string
	Lab, Step string
	Attempts  int
	Message   string
}

// Table is where a class stands on labs.
type Table struct {
	Labs     []Lab
	Students []Row
	Stuck    []Stuck
}

// Build makes the table of students on labs from their step records, as
// of now.
func Build(labs []Lab, students []Student, stats []StepStat, now time.Time) *Table {
	type key struct {
		user      int64
		lab, step string
	}
	byKey := map[key]StepStat{}
	for _, st := range stats {
		byKey[key{st.UserID, st.LabID, st.StepID}] = st
	}
	t := &Table{Labs: labs}
	for _, s := range students {
		row := Row{Student: s}
		for _, l := range labs {
			for _, step := range l.Steps {
				c := Cell{Lab: l.ID, Step: step, Status: "none"}
				if st, ok := byKey[key{s.ID, l.ID, step}]; ok {
					c.Attempts, c.Message, c.Status, c.FirstAt = st.Attempts, st.LastMessage, "failed", st.FirstAt
					switch {
					case st.Passed:
						c.Status, c.PassedAt = "passed", st.PassedAt
						row.Done++
						if st.PassedAt.After(row.Last) {
							row.Last = st.PassedAt
						}
					case st.Attempts >= StuckAttempts || now.Sub(st.FirstAt) > StuckFor:
						c.Stuck = true
						t.Stuck = append(t.Stuck, Stuck{s.ID, s.Name, l.ID, step, st.Attempts, st.LastMessage})
					}
				}
				row.Cells = append(row.Cells, c)
			}
		}
		t.Students = append(t.Students, row)
	}
	return t
}

// MaxPoints is how many steps the table's labs have: a student's maximum.
func (t *Table) MaxPoints() int {
	n := 0
	for _, l := range t.Labs {
		n += len(l.Steps)
	}
	return n
}

// Score is a row's points over the maximum, 0 when there is nothing to pass.
func (t *Table) Score(r Row) float64 {
	if max := t.MaxPoints(); max > 0 {
		return float64(r.Done) / float64(max)
	}
	return 0
}

// LabPoints are a row's steps passed in each of the table's labs.
func (t *Table) LabPoints(r Row) []int {
	out := make([]int, 0, len(t.Labs))
	i := 0
	for _, l := range t.Labs {
		n := 0
		for range l.Steps {
			if r.Cells[i].Status == "passed" {
				n++
			}
			i++
		}
		out = append(out, n)
	}
	return out
}

// WriteCSV writes the grades: one line per student with the steps passed
// per lab, points, maximum, score and when the last step was passed.
func (t *Table) WriteCSV(w io.Writer) error {
	header := []string{"username", "name", "email"}
	for _, l := range t.Labs {
		header = append(header, csvText(l.ID))
	}
	header = append(header, "points", "max_points", "score", "last_passed_at")
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, r := range t.Students {
		row := []string{csvText(r.Username), csvText(r.Name), csvText(r.Email)}
		for _, n := range t.LabPoints(r) {
			row = append(row, strconv.Itoa(n))
		}
		last := ""
		if !r.Last.IsZero() {
			last = r.Last.UTC().Format(time.RFC3339)
		}
		row = append(row, strconv.Itoa(r.Done), strconv.Itoa(t.MaxPoints()), strconv.FormatFloat(t.Score(r), 'f', 3, 64), last)
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// csvText makes text that people wrote (names, emails, lab ids) safe for
// a spreadsheet cell: a cell that begins with = + - @, a tab or a carriage
// return is run as a formula (=HYPERLINK… in a display name), so it gets
// a leading ' that makes it text (OWASP, "CSV Injection"). Numbers the
// platform writes itself do not go through it.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// LabStats is a lab's picture for a class.
type LabStats struct {
	Finished []time.Time // when each student who finished passed their last step, in order
	Steps    []StepStats
}

// StepStats is one step's picture.
type StepStats struct {
	Step          string
	Solved        int     // students who passed it
	MedianMinutes float64 // from their first check to passing
	Failures      int     // failed checks, by everybody
}

// Stats is lab's picture in the table: who finished and when, how long
// each step takes, which checks fail most.
func (t *Table) Stats(lab string) (LabStats, bool) {
	li := slices.IndexFunc(t.Labs, func(l Lab) bool { return l.ID == lab })
	if li < 0 {
		return LabStats{}, false
	}
	first := 0
	for _, l := range t.Labs[:li] {
		first += len(l.Steps)
	}
	l := t.Labs[li]
	var st LabStats
	for _, r := range t.Students {
		cells := r.Cells[first : first+len(l.Steps)]
		var last time.Time
		all := len(cells) > 0
		for _, c := range cells {
			if c.Status != "passed" {
				all = false
				break
			}
			if c.PassedAt.After(last) {
				last = c.PassedAt
			}
		}
		if all {
			st.Finished = append(st.Finished, last)
		}
	}
	sort.Slice(st.Finished, func(i, j int) bool { return st.Finished[i].Before(st.Finished[j]) })
	for i, step := range l.Steps {
		s := StepStats{Step: step}
		var mins []float64
		for _, r := range t.Students {
			c := r.Cells[first+i]
			switch c.Status {
			case "passed":
				s.Solved++
				s.Failures += c.Attempts - 1
				mins = append(mins, c.PassedAt.Sub(c.FirstAt).Minutes())
			case "failed":
				s.Failures += c.Attempts
			}
		}
		s.MedianMinutes = median(mins)
		st.Steps = append(st.Steps, s)
	}
	return st, true
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
