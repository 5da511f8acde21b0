package preflight

import (
	"errors"
	"fmt"
	"handson/internal/i18n"
	"io"
	"strings"
	"time"
)

// Print writes the report as a table in lang: each check's verdict, what
// was found and the host's own words, the fix, and the canary's stages.
func (rep *Report) Print(w io.Writer, lang string) {
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %-5s %-22s %s (%s)\n", statusWord(c.Status), i18n.T(lang, "preflight."+c.ID), i18n.T(lang, c.Key, c.Args...), c.Took.Round(time.Millisecond))
		for _, line := range strings.Split(c.Detail, "\n") {
			if line != "" {
				fmt.Fprintf(w, "        | %s\n", line)
			}
		}
		if len(c.Stages) > 0 {
			var st []string
			for _, s := range c.Stages {
				mark := ""
				if !s.Done {
					mark = " ✗"
				}
				st = append(st, fmt.Sprintf("%s %s%s", i18n.T(lang, "preflight.stage."+s.Name), s.Took.Round(10*time.Millisecond), mark))
			}
			fmt.Fprintf(w, "        %s\n", strings.Join(st, ", "))
		}
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(w, "        %s %s\n", i18n.T(lang, "status.fix"), i18n.T(lang, c.Fix))
		}
	}
	if rep.Ready() {
		fmt.Fprintln(w, i18n.T(lang, "doctor.ready", rep.Took.Round(100*time.Millisecond)))
	} else {
		fmt.Fprintln(w, i18n.T(lang, "doctor.notready", i18n.Count(lang, "count.checks", len(rep.Failed()))))
	}
}

func statusWord(s Status) string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return "-"
}

// Err is the error of a host that lacks what sandboxes need: the failed
// checks and their fixes, in English (the server's log); err when nothing
// failed.
func (rep *Report) Err(err error) error {
	var b strings.Builder
	b.WriteString("the host is not ready for sandboxes:")
	for _, c := range rep.Failed() {
		fmt.Fprintf(&b, "\n  %s: %s", i18n.T("en", "preflight."+c.ID), i18n.T("en", c.Key, c.Args...))
		if c.Detail != "" {
			fmt.Fprintf(&b, " (%s)", c.Detail)
		}
		if c.Fix != "" {
			fmt.Fprintf(&b, "\n    fix: %s", i18n.T("en", c.Fix))
		}
	}
	if len(rep.Failed()) == 0 {
		fmt.Fprintf(&b, " %v", err)
	}
	return errors.New(b.String())
}
