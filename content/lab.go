// Package content is the lab format: it parses lab Markdown into labs and
// steps and renders the guide to HTML.
package content

// Lab is one hands-on lab in one language.
type Lab struct {
	ID       string
	Title    string
	Duration string // as written, e.g. "30m"
	Image    string // sandbox image; empty means the platform's default
	// Resources overrides the platform's sandbox limits for this lab;
	// zero fields keep the platform's.
	Resources Resources
	Lang      string // "ja", "en", …; the primary file's language comes from front matter
	File      string // where it was read from, for error messages

	IntroHTML string
	Steps     []*Step
}

// Resources are a lab's sandbox limits.
type Resources struct {
	MemoryBytes int64
	CPUs        float64
	Pids        int64
}

// Step is one task of a lab with an optional check.
type Step struct {
	ID    string
	Title string
	Line  int // line of the step heading

	HTML  string   // rendered body (exec/copy blocks kept, scripts removed)
	Hints []string // rendered hints, revealed one at a time

	Check string // script run in the sandbox; exit 0 passes
	Solve string // reference solution
	Setup string // run before the step, hidden from the student
}

// Step returns the step with the given id, or nil.
func (l *Lab) Step(id string) *Step {
	for _, s := range l.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}
