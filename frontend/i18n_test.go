package frontend

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"handson/internal/i18n"
	"handson/internal/testenv"
)

// A key the scripts name: a string literal under i18n.BrowserPrefix.
var scriptKey = regexp.MustCompile(`'(` + regexp.QuoteMeta(i18n.BrowserPrefix) + `[A-Za-z0-9.]+)'`)

// The scripts name only keys the page carries, and the page carries only
// keys a script names.
func TestScriptsSayCatalogKeys(t *testing.T) {
	sent := i18n.Browser(i18n.Langs[0])
	files, err := filepath.Glob("src/*.ts")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in src/: %v", err)
	}
	named := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range scriptKey.FindAllStringSubmatch(string(b), -1) {
			named[m[1]] = true
			if _, ok := sent[m[1]]; !ok {
				t.Errorf("%s says %s, which is not in the catalog (internal/i18n/catalog.go)", f, m[1])
			}
		}
	}
	for key := range sent {
		// The terminal's own news: the server names the key (internal/terminal).
		if strings.HasPrefix(key, "web.term.news.") {
			continue
		}
		if !named[strings.TrimSuffix(key, ".one")] {
			t.Errorf("%s is sent to every page but no script says it: give it a key outside %s", key, i18n.BrowserPrefix)
		}
	}
}

// formatCase is one text formatted by Go and by src/i18n.ts.
type formatCase struct {
	Text string `json:"text"`
	Args []any  `json:"args"`
	Want string `json:"want"` // Go's
	// For count: the language's browser keys, the key and n.
	Lang string `json:"lang,omitempty"`
	Key  string `json:"key,omitempty"`
	N    int    `json:"n"`
}

// The browser formats every text it is sent as Go does: src/i18n.ts's
// format and plural, bundled by esbuild and run by Node, against i18n.T,
// i18n.Count and fmt.Sprintf.
func TestFormatLikeGo(t *testing.T) {
	node, err := exec.LookPath("node")
	esbuild := filepath.Join("node_modules", ".bin", "esbuild")
	if _, err2 := os.Stat(esbuild); err != nil || err2 != nil {
		msg := fmt.Sprintf("no node (%v) or no %s (%v): run npm ci in frontend/", err, esbuild, err2)
		if testenv.InCI() {
			t.Fatal("CI=true and " + msg)
		}
		t.Skip("skipped: " + msg)
	}

	var cases []formatCase
	// The verbs, Go's complaints and the argument index (a slice, not
	// ...any: vet would take add for a printf wrapper and these for bugs).
	add := func(text string, args []any) {
		cases = append(cases, formatCase{Text: text, Args: args, Want: fmt.Sprintf(text, args...)})
	}
	add("%s and %d, 100%%", []any{"x", 7})
	add("%[2]s, then %[1]s, then %s", []any{"a", "b"})
	add("%d%%: %[1]d", []any{3})
	add("%s %d", []any{"only one"})
	add("%[3]s", []any{"a", "b"})
	add("%[0]d", []any{1})
	add("%d is not %s", []any{"a string", 42})
	add("%s", []any{"one", "two", 3})
	add("%[1]s", []any{"one", "two"})
	add("%d", []any{1.5})
	add("no verbs", []any{"extra"})
	add("%s", []any{`</script> "quoted" & 'single' — 接続 %d`})

	langs := map[string]map[string]string{}
	for _, lang := range i18n.Langs {
		msgs := i18n.Browser(lang)
		langs[lang] = msgs
		for key, text := range msgs {
			// Each key with arguments as the catalog's verbs want them.
			args := argsFor(text)
			if len(args) > 0 {
				cases = append(cases, formatCase{Text: text, Args: args, Want: i18n.T(lang, key, args...)})
			}
			// A unit with a ".one" form: count picks the form as Count does.
			if _, unit := i18n.Browser(i18n.Langs[0])[key+".one"]; unit {
				for _, n := range []int{0, 1, 2, 21} {
					cases = append(cases, formatCase{Lang: lang, Key: key, N: n, Want: i18n.Count(lang, key, n)})
				}
			}
		}
	}

	dir := t.TempDir()
	data, err := json.Marshal(map[string]any{"cases": cases, "langs": langs})
	if err != nil {
		t.Fatal(err)
	}
	harness := `import { format, plural } from './src/i18n';
const { cases, langs } = ` + string(data) + `;
console.log(JSON.stringify(cases.map((c) => c.key ? format(langs[c.lang][plural(langs[c.lang], c.key, c.n)], [c.n]) : format(c.text, c.args))));
`
	script := filepath.Join(dir, "format.mjs")
	cmd := exec.Command(esbuild, "--bundle", "--format=esm", "--platform=node", "--log-level=warning", "--sourcefile=harness.ts", "--outfile="+script)
	cmd.Stdin = strings.NewReader(harness)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	out, err := exec.Command(node, script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node said %q (%v), want %d results", out, err, len(cases))
	}
	for i, c := range cases {
		if got[i] != c.Want {
			if c.Key != "" {
				t.Errorf("count(%s, %d) in %s: browser %q, Go %q", c.Key, c.N, c.Lang, got[i], c.Want)
			} else {
				t.Errorf("format(%q, %v): browser %q, Go %q", c.Text, c.Args, got[i], c.Want)
			}
		}
	}
	t.Logf("%d texts formatted alike", len(cases))
}

var verb = regexp.MustCompile(`%%|%(?:\[(\d+)\])?([sd])`)

// argsFor is an argument for each verb of text, in Go's order: a number
// for %d, a string with what HTML and fmt treat specially for %s.
func argsFor(text string) []any {
	var args []any
	next := 0
	for _, m := range verb.FindAllStringSubmatch(text, -1) {
		if m[2] == "" {
			continue // %%
		}
		if m[1] != "" {
			fmt.Sscan(m[1], &next)
			next--
		}
		for len(args) <= next {
			args = append(args, nil)
		}
		if m[2] == "d" {
			args[next] = 3 + next
		} else {
			args[next] = fmt.Sprintf("<b>%d & 100%%</b>", next)
		}
		next++
	}
	if slices.Contains(args, nil) {
		return nil
	}
	return args
}
