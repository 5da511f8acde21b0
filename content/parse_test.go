package content

import (
	"context"
	"errors"
	"flag"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

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
	if !strings.Contains(s.HTML, `<div class="codeblock" data-role="exec"><pre class="chroma"><code class="language-bash"><span class="nb">echo</span> hi`) {
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
		{"unknown key", "---\nid: x\ntitle: X\ncolour: red\n---\n## A {#a}\n", "lab.md:4:1: front matter: unknown field colour"},
		{"no id", "---\ntitle: X\n---\n## A {#a}\n", "front matter has no id"},
		{"bad id", "---\nid: Bad_ID\ntitle: X\n---\n## A {#a}\n", `lab id "Bad_ID"`},
		{"no title", "---\nid: x\n---\n## A {#a}\n", "front matter has no title"},
		{"no steps", "---\nid: x\ntitle: X\n---\nonly intro\n", "lab has no steps"},
		{"step without id", "---\nid: x\ntitle: X\n---\n## A\n", `lab.md:5:5: step "A" has no id`},
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

func TestRenderHidesScripts(t *testing.T) {
	html, err := Render("1. Do it\n\n    ```bash check\n    secret-check\n    ```\n")
	if err != nil || strings.Contains(html, "secret-check") {
		t.Errorf("a check block reached the page: %q, %v", html, err)
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
	for _, want := range []string{`b/lab.en.md:12:9: step 2 has id "zwei", lab.md has "second"`, "b/lab.en.md:5:1: translations carry no check"} {
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
	f.Add([]byte("---\nid: x\ntitle: X\nports: [80, 0]\ntags: [a]\nlevel: expert\nresources: {memory: 1g}\n---\n```setup\nx\n```\n## A {#a}\n```chek\n```\n- x\n\n    ```check\n    y\n    ```\n```bash exec copy\nz\n```\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		lab, err := Parse("fuzz.md", src)
		if (lab == nil) == (err == nil) {
			t.Fatalf("Parse returned lab=%v err=%v: exactly one must be set", lab, err)
		}
	})
}

func TestFrontMatterFields(t *testing.T) {
	src := strings.Replace(good, "duration: 10m", "duration: 10m\nports: [8080, 3000]\ntags: [docker, ネットワーク]\nlevel: beginner\nimage: handson/sandbox", 1)
	lab, err := Parse("lab.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lab.Ports, []int{8080, 3000}) || !slices.Equal(lab.Tags, []string{"docker", "ネットワーク"}) || lab.Level != "beginner" || lab.Image != "handson/sandbox" {
		t.Errorf("ports %v tags %v level %q image %q", lab.Ports, lab.Tags, lab.Level, lab.Image)
	}
}

// TestErrorPositions pins file:line:col of problems: the column points at
// the value, the word or the id that is wrong.
func TestErrorPositions(t *testing.T) {
	const head = "---\nid: x\ntitle: X\n"
	const step = "## A {#a}\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"port out of range", head + "ports: [8080, 70000]\n---\n" + step, "lab.md:4:15: port 70000: give a TCP port between 1 and 65535"},
		{"port listed twice", head + "ports:\n  - 80\n  - 80\n---\n" + step, "lab.md:6:5: port 80 is listed twice"},
		{"port not a number", head + "ports: [http]\n---\n" + step, "lab.md:4:1: front matter: cannot unmarshal"},
		{"empty tag", head + "tags: [a, '']\n---\n" + step, `lab.md:4:11: tag ""`},
		{"duplicate tag", head + "tags: [a, a]\n---\n" + step, `lab.md:4:11: tag "a" is listed twice`},
		{"bad level", head + "level: expert\n---\n" + step, `lab.md:4:8: level "expert": use beginner, intermediate, advanced`},
		{"bad duration", head + "duration: 20 minutes\n---\n" + step, `lab.md:4:11: duration "20 minutes"`},
		{"bad lang", head + "lang: Japanese\n---\n" + step, `lab.md:4:7: lang "Japanese"`},
		{"bad image", head + "image: Not An Image\n---\n" + step, `lab.md:4:8: image "Not An Image" is not an image name`},
		{"bad memory", head + "resources:\n  memory: lots\n---\n" + step, `lab.md:5:11: resources.memory "lots"`},
		{"bad id", "---\nid: Bad_ID\ntitle: X\n---\n" + step, `lab.md:2:5: lab id "Bad_ID"`},
		{"unknown field", head + "  # comment\ncolour: red\n---\n" + step, "lab.md:5:1: front matter: unknown field colour (the fields are id, title"},
		{"role typo", head + "---\n" + step + "```chek\ntrue\n```\n", `lab.md:6:4: unknown block role "chek": did you mean "check"?`},
		{"role typo, indented", head + "---\n" + step + "  ~~~~ solv\ntrue\n  ~~~~\n", `lab.md:6:8: unknown block role "solv": did you mean "solve"?`},
		{"hints", head + "---\n" + step + "```hints\ntrue\n```\n", `lab.md:6:4: unknown block role "hints": did you mean "hint"?`},
		{"unknown role", head + "---\n" + step + "```bash exce\ntrue\n```\n", `lab.md:6:9: unknown block role "exce": after the language a code block may name one role: exec, copy, check, hint, messages, solve, setup, cheat, variant`},
		{"language last", head + "---\n" + step + "```exec bash\ntrue\n```\n", "lab.md:6:9: the language comes first: write \"```bash exec\""},
		{"two roles", head + "---\n" + step + "```bash exec copy\ntrue\n```\n", "lab.md:6:14: a code block has one role, this one has exec and copy"},
		{"empty check", head + "---\n" + step + "```check\n\n```\n", "lab.md:6:1: empty check block"},
		{"hint in intro", head + "---\n```hint\nx\n```\n" + step, "lab.md:5:1: hint blocks belong inside a step"},
		{"two lab setups", head + "---\n```setup\na\n```\n```setup\nb\n```\n" + step, "lab.md:8:1: the lab (before its first step) may have one setup block"},
		{"bad step id", head + "---\n## A {#Bad}\n", `lab.md:5:6: step id "Bad"`},
		{"unclosed fence", head + "---\n" + step + "   ```bash\necho\n", "lab.md:6:4: code block is never closed"},
		{"check in a list", head + "---\n" + step + "1. Do it\n\n    ```check\n    true\n    ```\n", "lab.md:8:5: a check block must start at the beginning of a line"},
		{"hint in a quote", head + "---\n" + step + "> ```hint\n> x\n> ```\n", "lab.md:6:3: a hint block must start at the beginning of a line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("lab.md", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

// TestLanguagesAreNotRoles: words that only look like roles, and real
// languages, are fine.
func TestLanguagesAreNotRoles(t *testing.T) {
	for _, info := range []string{"bash", "sh exec", "console copy", "yaml", "dockerfile", "Dockerfile copy", "text", "python copy", "", "go", "json"} {
		src := "---\nid: x\ntitle: X\n---\n## A {#a}\n```" + info + "\ntrue\n```\n```check\ntrue\n```\n```solve\ntrue\n```\n"
		if _, err := Parse("lab.md", []byte(src)); err != nil {
			t.Errorf("```%s: %v", info, err)
		}
	}
}

func TestLabSetup(t *testing.T) {
	src := strings.Replace(good, "Intro *text*.\n", "Intro *text*.\n\n```setup\nuseradd app\n```\n", 1)
	lab, err := Parse("lab.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if lab.Setup != "useradd app\n" || strings.Contains(lab.IntroHTML, "useradd") {
		t.Errorf("lab setup = %q, intro = %q", lab.Setup, lab.IntroHTML)
	}
}

// textOf is what a browser's textContent gives for an HTML fragment.
func textOf(s string) string {
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(s, ""))
}

// TestHighlightKeepsText: the page's Run button types the text of an exec
// block, so highlighting must not change a character of it.
func TestHighlightKeepsText(t *testing.T) {
	for _, tc := range []struct{ lang, code string }{
		{"bash", "docker run --name hello busybox echo \"Hello, <Docker> & 'you'!\"\nfor i in 1 2; do echo $i; done # コメント\n\tcat <<'EOF'\n  x\nEOF\n"},
		{"dockerfile", "FROM busybox\nRUN echo hi > /x\nCMD [\"sh\"]\n"},
		{"yaml", "services:\n  web:\n    image: \"nginx:1\"\n"},
		{"console", "$ docker ps\nCONTAINER ID   IMAGE\n"},
		{"python", "print('</code><script>')\n"},
	} {
		out, err := Render("```" + tc.lang + " exec\n" + tc.code + "```\n")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `<div class="codeblock" data-role="exec"><pre class="chroma"><code class="language-`+tc.lang+`">`) {
			t.Errorf("%s: not highlighted in the exec wrapper:\n%s", tc.lang, out)
		}
		if got := textOf(out); strings.TrimSpace(got) != strings.TrimSpace(tc.code) {
			t.Errorf("%s: text of the block changed:\n%q\nwant\n%q", tc.lang, got, tc.code)
		}
		if strings.Contains(out, "<script") || strings.Contains(out, "style=") {
			t.Errorf("%s: unsafe or inline-styled markup:\n%s", tc.lang, out)
		}
	}
	out, _ := Render("```nosuchlanguage\na < b\n```\n")
	if out != "<pre><code class=\"language-nosuchlanguage\">a &lt; b\n</code></pre>\n" {
		t.Errorf("unknown language: %q", out)
	}
}

func TestJapaneseLineBreaks(t *testing.T) {
	out, err := Render("日本語の文が\n次の行に続きます。\nThen English\ncontinues. `code` and\n`more`。\nこれは\\ **「強調」**\\ です。\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"日本語の文が次の行に続きます。\nThen English\ncontinues. <code>code</code> and\n<code>more</code>", "これは<strong>「強調」</strong>です。"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered:\n%s\nwant %q", out, want)
		}
	}
}

func TestHighlightCSS(t *testing.T) {
	css := HighlightCSS()
	for _, want := range []string{"@media (prefers-color-scheme: light) {\n", "@media (prefers-color-scheme: dark) {\n", ".chroma .k {"} {
		if !strings.Contains(css, want) {
			t.Errorf("highlight CSS lacks %q", want)
		}
	}
	if strings.Contains(css, "background-color: #f7f7f7") || strings.Contains(css, ".chroma {") {
		t.Error("highlight CSS sets the block background; the page does")
	}
	if *update {
		if err := os.WriteFile("highlight.css", []byte(css), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("highlight.css")
	if err != nil || string(have) != css {
		t.Errorf("content/highlight.css is not current (%v): run go generate ./content", err)
	}
}

func TestTranslationRules(t *testing.T) {
	fsys := fstest.MapFS{
		"a/lab.md":    {Data: []byte(strings.Replace(good, "Intro *text*.\n", "```setup\nx\n```\n", 1))},
		"a/lab.en.md": {Data: []byte("---\nid: demo\ntitle: Demo\nimage: other\nlang: fr\n---\n```setup\ny\n```\n## First {#first}\n## Second {#second}\n## Third {#third}\n")},
	}
	_, err := Load(fsys)
	for _, want := range []string{
		"a/lab.en.md:4:1: a translation does not set image: it comes from lab.md",
		`a/lab.en.md:5:7: lang "fr", but the file name says "en"`,
		"a/lab.en.md:1:1: translations carry no setup block",
		"a/lab.en.md:12:1: translation has 3 steps, lab.md has 2 (first, second)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}
	swapped := fstest.MapFS{
		"a/lab.md":    {Data: []byte(good)},
		"a/lab.en.md": {Data: []byte("---\nid: demo\ntitle: Demo\n---\n## Second {#second}\n## First {#first}\n")},
	}
	if _, err := Load(swapped); err == nil || !strings.Contains(err.Error(), `a/lab.en.md:5:11: step 1 has id "second", lab.md has "first" ("second" is its step 2: keep the steps in the same order)`) {
		t.Errorf("swapped steps: %v", err)
	}
	ok := fstest.MapFS{
		"a/lab.md":    {Data: []byte(strings.Replace(good, "duration: 10m", "duration: 10m\nports: [80]\nlevel: advanced", 1))},
		"a/lab.en.md": {Data: []byte("---\nid: demo\ntitle: Demo\n---\n## First {#first}\n```hint\nEnglish hint\n```\n## Second {#second}\n")},
	}
	c, err := Load(ok)
	if err != nil {
		t.Fatal(err)
	}
	en := c.Lab("demo").ByLang["en"]
	if en.Level != "advanced" || !slices.Equal(en.Ports, []int{80}) || en.Duration != "10m" {
		t.Errorf("translation did not take the primary's settings: %+v", en)
	}
}

func TestHintWithoutCheck(t *testing.T) {
	_, err := Load(fstest.MapFS{"a/lab.md": {Data: []byte("---\nid: a\ntitle: A\n---\n## A {#a}\n```hint\nh\n```\n")}})
	if err == nil || !strings.Contains(err.Error(), `a/lab.md:5:1: step "a" has hints but no check`) {
		t.Errorf("errors: %v", err)
	}
}

func TestAssets(t *testing.T) {
	fsys := fstest.MapFS{
		"a/lab.md":              {Data: []byte(good)},
		"a/assets/app/main.go":  {Data: []byte("package main\n")},
		"b/lab.md":              {Data: []byte(strings.Replace(good, "id: demo", "id: b", 1))},
		"b/assets/link":         {Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink},
		"c/lab.md":              {Data: []byte(strings.Replace(good, "id: demo", "id: c", 1))},
		"c/assets":              {Data: []byte("not a folder")},
		"d/lab.md":              {Data: []byte(strings.Replace(good, "id: demo", "id: d", 1))},
		"d/assets/huge.bin":     {Data: make([]byte, MaxAssetBytes+1)},
		"e/lab.md":              {Data: []byte(strings.Replace(good, "id: demo", "id: e", 1))},
		"e/assets/sub/empty.md": {Data: nil},
	}
	c, err := Load(fsys)
	for _, want := range []string{
		"b/assets/link: an asset must be a regular file or folder",
		"c/assets: assets must be a folder",
		"d/assets: assets hold 20 MiB; at most 20 MiB",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}
	a := c.Lab("demo")
	if a == nil || a.Assets == nil {
		t.Fatal("lab a or its assets missing")
	}
	if data, err := fs.ReadFile(a.Assets, "app/main.go"); err != nil || string(data) != "package main\n" {
		t.Errorf("asset = %q, %v", data, err)
	}
	if c.Lab("e") == nil || c.Lab("b") != nil {
		t.Error("labs with asset problems must be left out, others kept")
	}
}

func TestOneLabFolder(t *testing.T) {
	c, err := Load(fstest.MapFS{"lab.md": {Data: []byte(good)}, "lab.en.md": {Data: []byte("---\nid: demo\ntitle: Demo\n---\n## First {#first}\n## Second {#second}\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Lab("demo"); e == nil || e.Dir != "." || e.ByLang["en"] == nil {
		t.Errorf("a folder that is one lab: %+v", e)
	}
}

func TestCheckImages(t *testing.T) {
	c, err := Load(fstest.MapFS{
		"a/lab.md": {Data: []byte(strings.Replace(good, "duration: 10m", "duration: 10m\nimage: handson/sandbox", 1))},
		"b/lab.md": {Data: []byte(strings.Replace(good, "id: demo\n", "id: b\nimage: handson/java:17\n", 1))},
	})
	if err != nil {
		t.Fatal(err)
	}
	errs := c.CheckImages(DefaultImage)
	if len(errs) != 1 || errs[0].Error() != `b/lab.md:3:8: unknown image "handson/java:17": the known images are handson/sandbox:latest (give more with -image NAME)` {
		t.Errorf("CheckImages = %v", errs)
	}
	if errs := c.CheckImages(DefaultImage, "handson/java:17"); len(errs) != 0 {
		t.Errorf("CheckImages with the image = %v", errs)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/lab.md"), []byte(good), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 10)
	go Watch(ctx, dir, 20*time.Millisecond, func(c *Course, err error) { got <- err })
	select {
	case err := <-got:
		t.Fatalf("reload without a change: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	os.WriteFile(filepath.Join(dir, "a/lab.en.md"), []byte("---\nid: demo\n---\n"), 0o644)
	for deadline := time.After(5 * time.Second); ; { // the first look may catch the file half written
		select {
		case err := <-got:
			if err != nil && strings.Contains(err.Error(), "front matter has no title") {
				return
			}
		case <-deadline:
			t.Fatal("a new file was not noticed")
		}
	}
}

// TestDocExamples: a code block in docs/ that follows
// "<!-- file: PATH -->" is that file of the repository, verbatim, so the
// examples instructors copy are the ones the tests lint and
// internal/labtest runs on real sandboxes.
func TestDocExamples(t *testing.T) {
	marker := regexp.MustCompile("<!-- file: (\\S+) -->\n([`~]{3,})[^\n]*\n")
	for _, doc := range []string{"../docs/authoring.md", "../docs/authoring.ja.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var found [][]string // path, body
		for _, loc := range marker.FindAllStringSubmatchIndex(string(text), -1) {
			path, fence := string(text[loc[2]:loc[3]]), string(text[loc[4]:loc[5]])
			body, _, ok := strings.Cut(string(text[loc[1]:]), "\n"+fence+"\n")
			if !ok {
				t.Errorf("%s: the example of %s is never closed", doc, path)
				continue
			}
			found = append(found, []string{"", path, "", body + "\n"})
		}
		if len(found) == 0 {
			t.Errorf("%s: no <!-- file: … --> example", doc)
		}
		for _, m := range found {
			want, err := os.ReadFile(filepath.Join("..", m[1]))
			if err != nil {
				t.Errorf("%s: %v", doc, err)
				continue
			}
			if m[3] != string(want) {
				t.Errorf("%s: the example differs from %s; copy the file into the doc", doc, m[1])
			}
			dir := filepath.Dir(filepath.Join("..", m[1]))
			if _, err := Load(os.DirFS(filepath.Dir(dir))); err != nil {
				t.Errorf("%s: the example has problems:\n%v", doc, err)
			}
		}
	}
}
