package content

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"handson/labs"
)

var update = flag.Bool("update", false, "rewrite golden files")

const good = "---\nid: demo\ntitle: デモ\nduration: 10m\n---\nIntro *text*.\n\n" +
	"## 最初のステップ {#first}\n\nRun this:\n\n```bash exec\necho hi\n```\n\n" +
	"```check\ntest -f /tmp/x || fail \"no /tmp/x\"\n```\n\n```hint\nUse `touch`.\n```\n\n```hint\n`touch /tmp/x`\n```\n\n" +
	"```solve\ntouch /tmp/x\n```\n\n" +
	"## Second {#second}\n\n```\n## not a heading inside a fence {#nope}\n```\n"

func TestParse(t *testing.T) {
	lab, err := Parse("demo/lab.md", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Parse("r.md", []byte(strings.Replace(good, "duration: 10m", "duration: 10m\nresources: {memory: 2g, cpus: 1.5, pids: 800}", 1))); err != nil || r.Resources != (Resources{2 << 30, 1.5, 800}) {
		t.Errorf("resources = %+v, %v", r, err)
	}
	if lab.ID != "demo" || lab.Title != "デモ" || lab.Duration != "10m" {
		t.Errorf("front matter = %q %q %q", lab.ID, lab.Title, lab.Duration)
	}
	if len(lab.Steps) != 2 {
		t.Fatalf("steps = %d, want 2 (a heading inside a fence is not a step)", len(lab.Steps))
	}
	s := lab.Steps[0]
	if s.ID != "first" || s.Title != "最初のステップ" || s.Line != 8 {
		t.Errorf("step = %q %q line %d", s.ID, s.Title, s.Line)
	}
	if s.Check != "test -f /tmp/x || fail \"no /tmp/x\"\n" || s.Solve != "touch /tmp/x\n" {
		t.Errorf("scripts = %q / %q", s.Check, s.Solve)
	}
	if len(s.Hints) != 2 || !strings.Contains(s.Hints[0], "<code>touch</code>") {
		t.Errorf("hints = %q", s.Hints)
	}
	if strings.Contains(s.HTML, "fail") || strings.Contains(s.HTML, "touch /tmp/x") {
		t.Errorf("check, hint or solve leaked into the guide: %s", s.HTML)
	}
	if !strings.Contains(s.HTML, `<div class="codeblock" data-role="exec"><pre><code class="language-bash">echo hi`) {
		t.Errorf("exec block not marked: %s", s.HTML)
	}
	if !strings.Contains(lab.Steps[1].HTML, "## not a heading") {
		t.Errorf("fenced text lost: %s", lab.Steps[1].HTML)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"no front matter", "# hi\n## A {#a}\n", "lab.md:1:1: missing front matter"},
		{"unclosed front matter", "---\nid: x\n", "front matter is never closed"},
		{"unknown key", "---\nid: x\ntitle: X\ncolour: red\n---\n## A {#a}\n", "lab.md:4:1: front matter: field colour not found"},
		{"no id", "---\ntitle: X\n---\n## A {#a}\n", "front matter has no id"},
		{"bad id", "---\nid: Bad_ID\ntitle: X\n---\n## A {#a}\n", `lab id "Bad_ID"`},
		{"no title", "---\nid: x\n---\n## A {#a}\n", "front matter has no title"},
		{"no steps", "---\nid: x\ntitle: X\n---\nonly intro\n", "lab has no steps"},
		{"step without id", "---\nid: x\ntitle: X\n---\n## A\n", `lab.md:5:1: step "A" has no id`},
		{"duplicate step", "---\nid: x\ntitle: X\n---\n## A {#a}\n## B {#a}\n", `lab.md:6:6: duplicate step id "a" (first at line 5)`},
		{"check without solve", "---\nid: x\ntitle: X\n---\n## A {#a}\n```check\ntrue\n```\n", "has a check but no solve"},
		{"unclosed fence", "---\nid: x\ntitle: X\n---\n## A {#a}\n```bash\necho\n", "lab.md:6:1: code block is never closed"},
		{"bad yaml", "---\nid: [x\ntitle: X\n---\n## A {#a}\n", "lab.md:"},
		{"bad memory", "---\nid: x\ntitle: X\nresources:\n  memory: lots\n---\n## A {#a}\n", `resources.memory "lots"`},
		{"few pids", "---\nid: x\ntitle: X\nresources:\n  pids: 10\n---\n## A {#a}\n", "resources.pids 10"},
		{"two checks", "---\nid: x\ntitle: X\n---\n## A {#a}\n```check\na\n```\n```check\nb\n```\n```solve\nc\n```\n", "one check block"},
		{"script in intro", "---\nid: x\ntitle: X\n---\n```check\na\n```\n## A {#a}\n", "belong inside a step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab, err := Parse("lab.md", []byte(tc.src))
			if err == nil || lab != nil {
				t.Fatalf("Parse = %v, nil; want error %q", lab, tc.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

func TestRenderIsSafe(t *testing.T) {
	html, err := Render("<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>\n\n```bash exec\n</code><script>\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "javascript:", "onerror", "<img"} {
		if strings.Contains(html, bad) {
			t.Errorf("rendered HTML contains %q:\n%s", bad, html)
		}
	}
}

// TestRenderGolden pins the HTML of the built-in course; run with -update
// after an intended change and read the diff.
func TestRenderGolden(t *testing.T) {
	course, err := Load(labs.Course)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range course.Labs() {
		for lang, lab := range e.ByLang {
			var b strings.Builder
			b.WriteString(lab.IntroHTML)
			for _, s := range lab.Steps {
				b.WriteString("\n<!-- step " + s.ID + " -->\n" + s.HTML)
				for _, h := range s.Hints {
					b.WriteString("<!-- hint -->\n" + h)
				}
			}
			golden := filepath.Join("testdata", e.ID+"."+lang+".html")
			if *update {
				os.WriteFile(golden, []byte(b.String()), 0o644)
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./content -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s; run go test ./content -update and review the diff", e.ID+"/"+lang, golden)
			}
		}
	}
}

func TestLoadTranslations(t *testing.T) {
	fsys := fstest.MapFS{
		"a/lab.md":    {Data: []byte(good)},
		"a/lab.en.md": {Data: []byte("---\nid: demo\ntitle: Demo\n---\n## First {#first}\ntext\n## Second {#second}\n")},
		"b/lab.md":    {Data: []byte(strings.Replace(good, "id: demo", "id: other", 1))},
		"b/lab.en.md": {Data: []byte("---\nid: other\ntitle: Other\n---\n## First {#first}\n```check\nx\n```\n```solve\ny\n```\n## Zwei {#zwei}\n")},
	}
	course, err := Load(fsys)
	if err == nil {
		t.Fatal("mismatched translation accepted")
	}
	for _, want := range []string{`b/lab.en.md:12:1: step 2 has id "zwei", b/lab.md has "second"`, "b/lab.en.md:5:1: translations carry no check"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}
	e := course.Lab("demo")
	if e == nil {
		t.Fatal("good lab missing from the course")
	}
	en := e.In("fr", "en")
	if en.Title != "Demo" || en.Lang != "en" {
		t.Errorf("In(fr, en) = %q (%s)", en.Title, en.Lang)
	}
	if en.Steps[0].Check != e.Primary.Steps[0].Check || en.Steps[0].Check == "" {
		t.Error("translation did not take the primary's check")
	}
	if e.In("fr").Lang != "ja" {
		t.Error("fallback is not the primary language")
	}
}

func TestBuiltinCourseLoads(t *testing.T) {
	course, err := Load(labs.Course)
	if err != nil {
		t.Fatal(err)
	}
	if len(course.Labs()) == 0 {
		t.Fatal("no built-in labs")
	}
	for _, e := range course.Labs() {
		for _, s := range e.Primary.Steps {
			if s.Check == "" || s.Solve == "" {
				t.Errorf("%s/%s: built-in steps need a check and a solve", e.ID, s.ID)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("---\nid: x\ntitle: X\n---\n## A {#a}\n```check\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		lab, err := Parse("fuzz.md", src)
		if (lab == nil) == (err == nil) {
			t.Fatalf("Parse returned lab=%v err=%v: exactly one must be set", lab, err)
		}
	})
}
