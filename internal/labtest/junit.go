package labtest

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// JUnit XML, the report format CI systems read: a testsuite per lab, a
// testcase per step.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name      string      `xml:"name,attr"`
		Tests     int         `xml:"tests,attr"`
		Failures  int         `xml:"failures,attr"`
		Errors    int         `xml:"errors,attr"`
		Skipped   int         `xml:"skipped,attr"`
		Time      string      `xml:"time,attr"`
		Timestamp string      `xml:"timestamp,attr"`
		File      string      `xml:"file,attr,omitempty"`
		Cases     []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure"`
		Error     *junitProblem `xml:"error"`
		Skipped   *junitProblem `xml:"skipped"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

func junitTime(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML. A lab that could not be
// tested is a suite with one erroring testcase named "(lab setup)".
func (r *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "handson lab test", Time: junitTime(r.Duration)}
	for _, l := range r.Labs {
		s := junitSuite{Name: l.ID, File: l.File, Time: junitTime(l.Duration), Timestamp: l.Started.UTC().Format("2006-01-02T15:04:05")}
		if l.Error != nil {
			s.Errors++
			s.Cases = append(s.Cases, junitCase{Classname: l.ID, Name: "(lab setup)", Time: junitTime(l.Duration),
				Error: &junitProblem{Message: l.Error.Message, Text: l.Error.Output}})
		}
		for _, st := range l.Steps {
			c := junitCase{Classname: l.ID, Name: st.ID, Time: junitTime(st.Duration)}
			var msgs, text []string
			for _, p := range st.Problems {
				msgs = append(msgs, p.Message)
				text = append(text, p.Message+"\n"+p.Output)
			}
			p := &junitProblem{Message: strings.Join(msgs, "; "), Text: strings.Join(text, "\n")}
			switch st.Status {
			case Fail:
				s.Failures++
				p.Type = "LabTestFailure"
				c.Failure = p
			case Skip:
				s.Skipped++
				p.Text = ""
				c.Skipped = p
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
