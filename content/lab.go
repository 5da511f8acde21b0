// Package content is the lab format: it parses lab Markdown into labs and
// steps and renders the guide to HTML. docs/authoring.md describes the
// format for instructors.
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
	Ports     []int    // ports in the sandbox the page may offer to preview
	Tags      []string // free words for the lab list
	Level     string   // "", "beginner", "intermediate" or "advanced"
	Record    bool     // record students' terminals (when the server keeps recordings)
	Lang      string   // "ja", "en", …; the primary file's language comes from front matter
	File      string   // where it was read from, for error messages

	IntroHTML string
	// Setup is the lab's setup script (a setup block before the first
	// step): run as root once, when the sandbox is new, before step 1.
	Setup string
	Steps []*Step

	pos map[string]pos // where front matter fields are, for messages
}

// Resources are a lab's sandbox limits.
type Resources struct {
	MemoryBytes int64
	CPUs        float64
	Pids        int64
}

// Levels a lab's front matter may name.
var Levels = []string{"beginner", "intermediate", "advanced"}

// Step is one task of a lab with an optional check.
type Step struct {
	ID    string
	Title string
	Line  int // line of the step heading

	HTML  string   // rendered body (exec/copy blocks kept, scripts removed)
	Hints []string // rendered hints, revealed one at a time

	Check string // script run in the sandbox as root; exit 0 passes
	Solve string // reference solution, run as the student by `handson lab test`
	Setup string // run as root before the step, hidden from the student
	// Messages are what the check may say, in this file's language: the
	// step's messages block over the lab's.
	Messages Messages
	// Cheats are what a student might do to pass without doing the step
	// (run as the student): the check must fail after each. Variants are
	// other valid ways to do it: the check must pass after each. Only
	// `handson lab test` runs them (internal/labtest says where).
	Cheats, Variants []string

	idCol int // column of "{#" in the heading
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

// pos is a place in a lab file.
type pos struct{ line, col int }

// at returns where front matter field key (e.g. "image", "resources.memory",
// "ports[1]") is written, else the front matter's first line.
func (l *Lab) at(key string) (line, col int) {
	if p, ok := l.pos[key]; ok {
		return p.line, p.col
	}
	return 2, 1
}
