package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in a lab file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in a file.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// frontMatter is the YAML header of a lab file.
type frontMatter struct {
	ID        string `yaml:"id"`
	Title     string `yaml:"title"`
	Duration  string `yaml:"duration"`
	Image     string `yaml:"image"`
	Lang      string `yaml:"lang"`
	Resources struct {
		Memory string  `yaml:"memory"` // "2g", "512m"
		CPUs   float64 `yaml:"cpus"`
		Pids   int64   `yaml:"pids"`
	} `yaml:"resources"`
}

// Roles a fenced block can have (the words after the language in its info string).
var roles = map[string]bool{"exec": true, "copy": true, "check": true, "solve": true, "hint": true, "setup": true}

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	headingPattern = regexp.MustCompile(`^##[ \t]+(.*?)[ \t]*(?:\{#([^}]*)\})?[ \t]*$`)
)

// Parse reads one lab file. It returns every problem it finds, not just the
// first; the lab is nil when there are any.
func Parse(file string, src []byte) (*Lab, error) {
	p := &parser{file: file}
	lab := p.parse(src)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return lab, nil
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) errorf(line, col int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// section is a run of Markdown lines with the scripts taken out of it.
type section struct {
	line                int
	md                  []string
	hints               []string
	check, solve, setup string
}

func (p *parser) parse(src []byte) *Lab {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	lines := strings.Split(string(src), "\n")
	lab := &Lab{File: p.file}
	start := p.frontMatter(lines, lab)

	intro := &section{line: start + 1}
	cur := intro
	var steps []*section
	seen := map[string]int{}
	for i := start; i < len(lines); i++ {
		line := lines[i]
		if fence, ok := openFence(line); ok {
			end := closeFence(lines, i+1, fence)
			if end == len(lines) {
				p.errorf(i+1, 1, "code block is never closed (missing %s)", fence)
			}
			p.block(cur, lines, i, end)
			i = end
			continue
		}
		m := headingPattern.FindStringSubmatch(line)
		if m == nil {
			cur.md = append(cur.md, line)
			continue
		}
		st := &Step{Title: m[1], ID: m[2], Line: i + 1}
		switch {
		case st.ID == "":
			p.errorf(i+1, 1, "step %q has no id: end the heading with {#some-id}", st.Title)
		case !idPattern.MatchString(st.ID):
			p.errorf(i+1, strings.Index(line, "{#")+1, "step id %q: use lower-case letters, digits and '-'", st.ID)
		case seen[st.ID] > 0:
			p.errorf(i+1, strings.Index(line, "{#")+1, "duplicate step id %q (first at line %d)", st.ID, seen[st.ID])
		default:
			seen[st.ID] = i + 1
		}
		if st.Title == "" {
			p.errorf(i+1, 1, "step heading has no title")
		}
		lab.Steps = append(lab.Steps, st)
		cur = &section{line: i + 1}
		steps = append(steps, cur)
	}
	if len(lab.Steps) == 0 {
		p.errorf(start+1, 1, "lab has no steps: start each step with a '## Title {#id}' heading")
	}
	if len(intro.hints)+len(intro.check)+len(intro.solve) > 0 {
		p.errorf(intro.line, 1, "check, solve and hint blocks belong inside a step")
	}

	var err error
	if lab.IntroHTML, err = Render(strings.Join(intro.md, "\n")); err != nil {
		p.errorf(intro.line, 1, "render: %v", err)
	}
	for i, st := range lab.Steps {
		sec := steps[i]
		st.Check, st.Solve, st.Setup = sec.check, sec.solve, sec.setup
		if st.HTML, err = Render(strings.Join(sec.md, "\n")); err != nil {
			p.errorf(sec.line, 1, "render: %v", err)
		}
		for _, h := range sec.hints {
			html, err := Render(h)
			if err != nil {
				p.errorf(sec.line, 1, "render hint: %v", err)
			}
			st.Hints = append(st.Hints, html)
		}
		if st.Check != "" && st.Solve == "" {
			p.errorf(st.Line, 1, "step %q has a check but no solve block: 'handson lab test' needs one to prove the check", st.ID)
		}
	}
	return lab
}

// frontMatter parses the YAML header and returns the index of the first body line.
func (p *parser) frontMatter(lines []string, lab *Lab) int {
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "---" {
		p.errorf(1, 1, "missing front matter: the file must start with a '---' line, then id and title")
		return 0
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "---" {
			end = i
			break
		}
	}
	if end < 0 {
		p.errorf(1, 1, "front matter is never closed (missing '---')")
		return len(lines)
	}
	var fm frontMatter
	dec := yaml.NewDecoder(strings.NewReader(strings.Join(lines[1:end], "\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil && !errors.Is(err, io.EOF) {
		p.yamlErrors(err)
	}
	lab.ID, lab.Title, lab.Duration, lab.Image, lab.Lang = fm.ID, fm.Title, fm.Duration, fm.Image, fm.Lang
	switch {
	case lab.ID == "":
		p.errorf(2, 1, "front matter has no id")
	case !idPattern.MatchString(lab.ID):
		p.errorf(2, 1, "lab id %q: use lower-case letters, digits and '-'", lab.ID)
	}
	if lab.Title == "" {
		p.errorf(2, 1, "front matter has no title")
	}
	res := fm.Resources
	if res.Memory != "" {
		n, err := units.RAMInBytes(res.Memory)
		if err != nil || n < 256<<20 {
			p.errorf(2, 1, "resources.memory %q: give a size of at least 256m, like 512m or 2g", res.Memory)
		}
		lab.Resources.MemoryBytes = n
	}
	if res.CPUs < 0 || res.CPUs > 64 {
		p.errorf(2, 1, "resources.cpus %v: give a number of CPUs, like 0.5 or 2", res.CPUs)
	}
	if res.Pids != 0 && res.Pids < 64 {
		p.errorf(2, 1, "resources.pids %d: a Docker daemon needs at least 64", res.Pids)
	}
	lab.Resources.CPUs, lab.Resources.Pids = res.CPUs, res.Pids
	return end + 1
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// yamlErrors reports YAML problems at their line in the file (YAML's line 1
// is the file's line 2).
func (p *parser) yamlErrors(err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, msg := range msgs {
		line := 2
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = n+1, m[2]
		}
		p.errorf(line, 1, "front matter: %s", strings.TrimPrefix(msg, "yaml: "))
	}
}

// block files the fenced block lines[open..close] into sec by its role.
func (p *parser) block(sec *section, lines []string, open, close int) {
	info := strings.Fields(strings.TrimLeft(strings.TrimSpace(lines[open]), "`~"))
	role := ""
	for _, w := range info {
		if roles[w] {
			role = w
		}
	}
	end := min(close, len(lines))
	body := strings.Join(lines[open+1:end], "\n")
	if body != "" {
		body += "\n"
	}
	dup := func(have string) {
		if have != "" {
			p.errorf(open+1, 1, "a step may have one %s block", role)
		}
	}
	switch role {
	case "check":
		dup(sec.check)
		sec.check = body
	case "solve":
		dup(sec.solve)
		sec.solve = body
	case "setup":
		dup(sec.setup)
		sec.setup = body
	case "hint":
		sec.hints = append(sec.hints, body)
	default: // plain, exec and copy blocks stay in the guide
		sec.md = append(sec.md, lines[open:min(close+1, len(lines))]...)
	}
}

// openFence reports whether line opens a fenced code block, and its fence.
func openFence(line string) (string, bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 || len(t) < 3 {
		return "", false
	}
	c := t[0]
	if c != '`' && c != '~' {
		return "", false
	}
	n := 0
	for n < len(t) && t[n] == c {
		n++
	}
	if n < 3 || (c == '`' && strings.Contains(t[n:], "`")) {
		return "", false
	}
	return t[:n], true
}

// closeFence returns the index of the line closing fence, or len(lines).
func closeFence(lines []string, from int, fence string) int {
	for i := from; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
			return i
		}
	}
	return len(lines)
}
