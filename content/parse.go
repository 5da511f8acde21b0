package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in a lab file. Line 0 means the file as a
// whole (an asset, a folder).
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
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
	Ports  []int    `yaml:"ports"`
	Tags   []string `yaml:"tags"`
	Level  string   `yaml:"level"`
	Record bool     `yaml:"record"`
}

// frontMatterFields lists the keys frontMatter knows, for messages.
const frontMatterFields = "id, title, duration, lang, image, resources, ports, tags, level, record"

// Roles a fenced block can have: its info string is a language, then one
// role ("```bash exec"), or the role alone ("```check").
// roleNames are in the order the documentation gives them.
var (
	roleNames = []string{"exec", "copy", "check", "hint", "messages", "solve", "setup", "cheat", "variant"}
	roleList  = strings.Join(roleNames, ", ")
)

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	headingPattern = regexp.MustCompile(`^##[ \t]+(.*?)[ \t]*(?:\{#([^}]*)\})?[ \t]*$`)
	langPattern    = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	// imagePattern is a Docker image reference: [host[:port]/]path[:tag][@digest].
	imagePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?` +
		`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
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
	intro               bool
	md                  []string
	hints               []string
	cheats, variants    []string
	check, solve, setup string
	hasCheck, hasSolve  bool
	hasSetup            bool
	messages            Messages
}

func (p *parser) parse(src []byte) *Lab {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	lines := strings.Split(string(src), "\n")
	lab := &Lab{File: p.file}
	start := p.frontMatter(lines, lab)

	intro := &section{line: start + 1, intro: true, messages: Messages{}}
	cur := intro
	var steps []*section
	seen := map[string]int{}
	for i := start; i < len(lines); i++ {
		line := lines[i]
		if fence, ok := openFence(line); ok {
			end := closeFence(lines, i+1, fence)
			if end == len(lines) {
				p.errorf(i+1, strings.Index(line, fence)+1, "code block is never closed (missing %s)", fence)
			}
			p.block(cur, lines, i, end)
			i = end
			continue
		}
		m := headingPattern.FindStringSubmatch(line)
		if m == nil {
			p.indentedScript(i+1, line)
			cur.md = append(cur.md, line)
			continue
		}
		st := &Step{Title: m[1], ID: m[2], Line: i + 1, idCol: 1}
		if c := strings.LastIndex(line, "{#"); c >= 0 && m[2] != "" {
			st.idCol = c + 1
		}
		switch {
		case st.ID == "":
			p.errorf(i+1, len(strings.TrimRight(line, " \t"))+1, "step %q has no id: end the heading with {#some-id}", st.Title)
		case !idPattern.MatchString(st.ID):
			p.errorf(i+1, st.idCol, "step id %q: use lower-case letters, digits and '-'", st.ID)
		case seen[st.ID] > 0:
			p.errorf(i+1, st.idCol, "duplicate step id %q (first at line %d)", st.ID, seen[st.ID])
		default:
			seen[st.ID] = i + 1
		}
		if st.Title == "" {
			p.errorf(i+1, 4, "step heading has no title")
		}
		lab.Steps = append(lab.Steps, st)
		cur = &section{line: i + 1, messages: Messages{}}
		steps = append(steps, cur)
	}
	if len(lab.Steps) == 0 {
		p.errorf(start+1, 1, "lab has no steps: start each step with a '## Title {#id}' heading")
	}
	lab.Setup = intro.setup
	usesMessages := len(intro.messages) > 0 || slices.ContainsFunc(steps, func(s *section) bool { return len(s.messages) > 0 })

	var err error
	if lab.IntroHTML, err = Render(strings.Join(intro.md, "\n")); err != nil {
		p.errorf(intro.line, 1, "render: %v", err)
	}
	for i, st := range lab.Steps {
		sec := steps[i]
		st.Check, st.Solve, st.Setup = sec.check, sec.solve, sec.setup
		st.Cheats, st.Variants = sec.cheats, sec.variants
		// A lab's messages (before its first step) serve every step; a
		// step's own come first.
		st.Messages = Messages{}
		maps.Copy(st.Messages, intro.messages)
		maps.Copy(st.Messages, sec.messages)
		for _, k := range keysUsed(st.Check) {
			if _, ok := st.Messages[k]; !ok && usesMessages {
				p.errorf(st.Line, 1, "step %q: its check says %q, which is not in its messages block or the lab's", st.ID, k)
			}
		}
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
		if st.Check == "" && len(st.Cheats)+len(st.Variants) > 0 {
			p.errorf(st.Line, 1, "step %q has cheat or variant blocks but no check for them to test", st.ID)
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
	text := strings.Join(lines[1:end], "\n")
	lab.pos = fieldPositions(text)
	var fm frontMatter
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil && !errors.Is(err, io.EOF) {
		p.yamlErrors(err, lab)
	}
	lab.ID, lab.Title, lab.Duration, lab.Image, lab.Lang = fm.ID, fm.Title, fm.Duration, fm.Image, fm.Lang
	lab.Ports, lab.Tags, lab.Level, lab.Record = fm.Ports, fm.Tags, fm.Level, fm.Record
	at := func(key string, format string, args ...any) {
		line, col := lab.at(key)
		p.errorf(line, col, format, args...)
	}
	switch {
	case lab.ID == "":
		at("id", "front matter has no id")
	case !idPattern.MatchString(lab.ID):
		at("id", "lab id %q: use lower-case letters, digits and '-'", lab.ID)
	}
	if strings.TrimSpace(lab.Title) == "" {
		at("title", "front matter has no title")
	}
	if lab.Duration != "" {
		if d, err := time.ParseDuration(lab.Duration); err != nil || d <= 0 {
			at("duration", "duration %q: write a time like 20m or 1h30m", lab.Duration)
		}
	}
	if lab.Lang != "" && !langPattern.MatchString(lab.Lang) {
		at("lang", "lang %q: use a language code like ja or en", lab.Lang)
	}
	if lab.Image != "" && !imagePattern.MatchString(lab.Image) {
		at("image", "image %q is not an image name like handson/sandbox:latest", lab.Image)
	}
	res := fm.Resources
	if res.Memory != "" {
		n, err := units.RAMInBytes(res.Memory)
		if err != nil || n < 256<<20 {
			at("resources.memory", "resources.memory %q: give a size of at least 256m, like 512m or 2g", res.Memory)
		}
		lab.Resources.MemoryBytes = n
	}
	if res.CPUs < 0 || res.CPUs > 64 {
		at("resources.cpus", "resources.cpus %v: give a number of CPUs, like 0.5 or 2", res.CPUs)
	}
	if res.Pids != 0 && res.Pids < 64 {
		at("resources.pids", "resources.pids %d: a Docker daemon needs at least 64", res.Pids)
	}
	lab.Resources.CPUs, lab.Resources.Pids = res.CPUs, res.Pids
	for i, port := range lab.Ports {
		key := "ports[" + strconv.Itoa(i) + "]"
		switch {
		case port < 1 || port > 65535:
			at(key, "port %d: give a TCP port between 1 and 65535", port)
		case slices.Index(lab.Ports, port) < i:
			at(key, "port %d is listed twice", port)
		}
	}
	for i, tag := range lab.Tags {
		key := "tags[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(tag) == "" || len([]rune(tag)) > 40:
			at(key, "tag %q: give a word or two (at most 40 characters)", tag)
		case slices.Index(lab.Tags, tag) < i:
			at(key, "tag %q is listed twice", tag)
		}
	}
	if lab.Level != "" && !slices.Contains(Levels, lab.Level) {
		at("level", "level %q: use %s", lab.Level, strings.Join(Levels, ", "))
	}
	return end + 1
}

// fieldPositions indexes where each front matter key and value is written,
// in file lines (YAML's line 1 is the file's line 2): "key" is the value,
// "key:" the key itself; lists and maps one level down are "ports[1]" and
// "resources.memory".
func fieldPositions(text string) map[string]pos {
	out := map[string]pos{}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return out
	}
	at := func(n *yaml.Node) pos { return pos{n.Line + 1, n.Column} }
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		key, val := m[i].Value, m[i+1]
		out[key+":"], out[key] = at(m[i]), at(val)
		switch val.Kind {
		case yaml.SequenceNode:
			for j, item := range val.Content {
				out[key+"["+strconv.Itoa(j)+"]"] = at(item)
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(val.Content); j += 2 {
				sub := key + "." + val.Content[j].Value
				out[sub+":"], out[sub] = at(val.Content[j]), at(val.Content[j+1])
			}
		}
	}
	return out
}

var (
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*)`)
	yamlUnknown = regexp.MustCompile(`^field (\S+) not found in type`)
)

// yamlErrors reports YAML problems at their line in the file (YAML's line 1
// is the file's line 2).
func (p *parser) yamlErrors(err error, lab *Lab) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, msg := range msgs {
		msg = strings.TrimPrefix(msg, "yaml: ")
		line, col := 2, 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = n+1, m[2]
		}
		if m := yamlUnknown.FindStringSubmatch(msg); m != nil {
			if at, ok := lab.pos[m[1]+":"]; ok && at.line == line {
				col = at.col
			}
			msg = fmt.Sprintf("unknown field %s (the fields are %s)", m[1], frontMatterFields)
		}
		p.errorf(line, col, "front matter: %s", msg)
	}
}

// word is a word of a fence's info string and its column in the line.
type word struct {
	text string
	col  int
}

// infoWords splits an opening fence line's info string into words.
func infoWords(line string) []word {
	start := len(line) - len(strings.TrimLeft(line, " "))
	start += len(line[start:]) - len(strings.TrimLeft(line[start:], "`~"))
	var out []word
	i := start
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > i {
			out = append(out, word{line[i:j], i + 1})
		}
		i = j
	}
	return out
}

// blockRole reads an info string: a language and then one role, or a role
// alone. Problems are reported through bad (nil: ignore them).
func blockRole(info []word, bad func(col int, format string, args ...any)) (lang, role string) {
	if bad == nil {
		bad = func(int, string, ...any) {}
	}
	for i, w := range info {
		switch {
		case slices.Contains(roleNames, w.text) && role == "":
			role = w.text
		case slices.Contains(roleNames, w.text):
			bad(w.col, "a code block has one role, this one has %s and %s", role, w.text)
		case i == 0:
			lang = w.text
			if lexerFor(w.text) == nil {
				if near := nearRole(w.text); near != "" {
					bad(w.col, "unknown block role %q: did you mean %q? (roles: %s)", w.text, near, roleList)
				}
			}
		case lexerFor(w.text) != nil:
			bad(w.col, "the language comes first: write %q", "```"+w.text+" "+info[0].text)
		default:
			bad(w.col, "unknown block role %q: after the language a code block may name one role: %s", w.text, roleList)
		}
	}
	return lang, role
}

// nearRole returns the role w looks like a typo of, if any.
func nearRole(w string) string {
	lw := strings.ToLower(w)
	if slices.Contains(roleNames, lw) {
		return lw
	}
	if len(w) < 3 {
		return ""
	}
	for _, r := range roleNames {
		if editDistance(lw, r) <= 2 || strings.HasPrefix(lw, r) {
			return r
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// block files the fenced block lines[open..close] into sec by its role.
func (p *parser) block(sec *section, lines []string, open, close int) {
	_, role := blockRole(infoWords(lines[open]), func(col int, format string, args ...any) {
		p.errorf(open+1, col, format, args...)
	})
	end := min(close, len(lines))
	body := strings.Join(lines[open+1:end], "\n")
	if body != "" {
		body += "\n"
	}
	where := "a step"
	if sec.intro {
		where = "the lab (before its first step)"
	}
	script := func(have *bool, dst *string) {
		if *have {
			p.errorf(open+1, 1, "%s may have one %s block", where, role)
		}
		if strings.TrimSpace(body) == "" {
			p.errorf(open+1, 1, "empty %s block", role)
		}
		*have, *dst = true, body
	}
	many := func(dst *[]string) {
		if strings.TrimSpace(body) == "" {
			p.errorf(open+1, 1, "empty %s block", role)
		}
		*dst = append(*dst, body)
	}
	switch role {
	case "check", "solve", "hint", "cheat", "variant": // messages may serve the whole lab
		if sec.intro {
			p.errorf(open+1, 1, "%s blocks belong inside a step (after a '## Title {#id}' heading)", role)
			return
		}
	}
	switch role {
	case "check":
		script(&sec.hasCheck, &sec.check)
	case "solve":
		script(&sec.hasSolve, &sec.solve)
	case "setup":
		script(&sec.hasSetup, &sec.setup)
	case "hint":
		many(&sec.hints)
	case "messages":
		parseMessages(body, open+2, sec.messages, p.errorf)
	case "cheat":
		many(&sec.cheats)
	case "variant":
		many(&sec.variants)
	default: // plain, exec and copy blocks stay in the guide
		sec.md = append(sec.md, lines[open:min(close+1, len(lines))]...)
	}
}

// hidden are the roles of blocks students must not see.
var hidden = map[string]bool{"check": true, "solve": true, "setup": true, "hint": true, "messages": true, "cheat": true, "variant": true}

// indentedScript reports a check, solve, setup or hint block indented by
// four or more spaces (in a list item, say): it would not be taken out of
// the guide, and students would see it.
func (p *parser) indentedScript(lineNo int, line string) {
	t := strings.TrimLeft(line, " \t>")
	if !strings.HasPrefix(t, "```") && !strings.HasPrefix(t, "~~~") {
		return
	}
	for _, w := range infoWords(line[len(line)-len(t):]) {
		if hidden[w.text] {
			p.errorf(lineNo, len(line)-len(t)+1, "a %s block must start at the beginning of a line (at most 3 spaces in, not inside a list or quote)", w.text)
			return
		}
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
