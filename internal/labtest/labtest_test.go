package labtest

import (
	"bytes"
	"context"
	"encoding/xml"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"handson/content"
	"handson/internal/labrun"
	"handson/internal/sandbox"
	"handson/internal/sandbox/sandboxtest"
)

// world is pretend sandboxes for the fake engine, one per sandbox key:
// scripts are lines of "make X" (X now exists), "exit N" (fail with
// "boom") and checks "want X" (pass when X exists; "fail" otherwise).
type world struct {
	mu     sync.Mutex
	things map[string]map[string]bool // sandbox key's lab → what exists in it
	users  map[string]string          // script's first line → who ran it
}

func newWorld() *world {
	return &world{things: map[string]map[string]bool{}, users: map[string]string{}}
}

// in is what exists in the sandbox of key lab ("demo" is the lab's own).
func (w *world) in(lab string) map[string]bool {
	if w.things[lab] == nil {
		w.things[lab] = map[string]bool{}
	}
	return w.things[lab]
}

// execer runs scripts in the world's sandboxes; the fake records them.
type execer struct {
	fake *sandboxtest.Fake
	w    *world
}

func (x execer) Exec(ctx context.Context, sb *sandbox.Sandbox, cmd sandbox.Command) (*sandbox.Result, error) {
	x.fake.Exec(ctx, sb, cmd)
	return x.w.answer(sb.Key.Lab, cmd)
}

func (w *world) answer(lab string, cmd sandbox.Command) (*sandbox.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	have := w.in(lab)
	script := labrun.ScriptOf(cmd)
	isCheck := slices.Contains(cmd.Env, "HANDSON_CHECK=1")
	if isCheck {
		script = strings.TrimPrefix(script, labrun.Helpers)
	} else {
		script = strings.TrimPrefix(script, "cd /home/student\nset -e\n")
	}
	first, _, _ := strings.Cut(script, "\n")
	w.users[first] = cmd.User
	for _, line := range strings.Split(script, "\n") {
		verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch verb {
		case "fresh": // a new sandbox: the lab's setup says so
			clear(have)
		case "make":
			have[arg] = true
		case "exit":
			code := int(arg[0] - '0')
			return &sandbox.Result{ExitCode: code, Output: []byte("boom\n")}, nil
		case "want":
			if !have[arg] {
				return &sandbox.Result{ExitCode: 1, Output: []byte("no " + arg + "\n")}, nil
			}
		}
	}
	return &sandbox.Result{ExitCode: 0, Output: []byte("did " + first + "\n")}, nil
}

// lab builds a course of one lab from Markdown steps.
func lab(t *testing.T, intro string, steps ...string) []*content.Entry {
	t.Helper()
	src := "---\nid: demo\ntitle: Demo\n---\n" + intro + "\n"
	for i, s := range steps {
		src += "## Step {#s" + string(rune('1'+i)) + "}\n" + s + "\n"
	}
	course, err := content.Load(fstest.MapFS{"demo/lab.md": {Data: []byte(src)}})
	if err != nil {
		t.Fatal(err)
	}
	return course.Labs()
}

func block(role, body string) string { return "```" + role + "\n" + body + "\n```\n" }

func step(check, solve string) string { return block("check", check) + block("solve", solve) }

func run(t *testing.T, entries []*content.Entry, opts Options) (*Report, string, *sandboxtest.Fake, *world) {
	t.Helper()
	w := newWorld()
	fake := &sandboxtest.Fake{}
	var out bytes.Buffer
	rep, err := Run(context.Background(), fake, &labrun.Runner{Exec: execer{fake, w}, CheckTimeout: 5 * time.Second}, entries, opts, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out.String())
	return rep, out.String(), fake, w
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q", l)
		}
	}
}

func TestPassingLab(t *testing.T) {
	entries := lab(t, block("setup", "make base"),
		block("setup", "make s1-setup")+step("want base\nwant s1-setup\nwant a", "make a"),
		step("want a\nwant b", "make b"),
		"no check here\n"+block("solve", "make c"))
	rep, out, fake, w := run(t, entries, Options{})
	if !rep.OK() || len(rep.Labs) != 1 || len(rep.Labs[0].Steps) != 3 {
		t.Fatalf("report = %+v", rep.Labs)
	}
	wantLines(t, out, "=== LAB demo (demo/lab.md)\n", "--- PASS demo/s1 (", "--- PASS demo/s2 (", "--- PASS demo/s3 (",
		"ok   demo 3 steps (", "PASS: 1 lab, 3 steps passed (")
	if !w.in("demo")["c"] {
		t.Error("the solve of a step without a check did not run")
	}
	if w.users["make base"] != "root" || w.users["make s1-setup"] != "root" {
		t.Errorf("setups ran as %q and %q, want root", w.users["make base"], w.users["make s1-setup"])
	}
	if w.users["make a"] != "" {
		t.Errorf("solve ran as %q, want the student", w.users["make a"])
	}
	if w.users["want a"] != "root" {
		t.Errorf("check ran as %q, want root", w.users["want a"])
	}
	ensured, _, _, removed := fake.Calls()
	if len(ensured) != 1 || len(removed) != 1 || removed[0] != ensured[0] {
		t.Errorf("ensured %v, removed %v: want the lab's sandbox made and removed", ensured, removed)
	}
}

// TestCheatsAndVariants: each cheat must fail the check and each variant
// pass it, on sandboxes brought to the step by the solves before it.
func TestCheatsAndVariants(t *testing.T) {
	entries := lab(t, block("setup", "fresh"),
		step("want a", "make a")+block("cheat", "# only a lookalike\nmake fake")+block("cheat", "make a")+
			block("variant", "make a")+block("variant", "make other"),
		step("want a\nwant b", "make b")+block("variant", "make b"))
	rep, out, fake, _ := run(t, entries, Options{})
	if rep.OK() {
		t.Fatal("a cheat that passes and a variant that fails went unnoticed")
	}
	s1, s2 := rep.Labs[0].Steps[0], rep.Labs[0].Steps[1]
	if s1.Status != Fail || len(s1.Problems) != 2 || s2.Status != Pass {
		t.Fatalf("s1 = %+v, s2 = %+v", s1, s2)
	}
	wantLines(t, out, "--- PASS demo/s1 (", "--- FAIL demo/s1 (2 cheats, 2 variants) (",
		"    cheat 2 (make a) passed the check: it must fail students who did not do the step\n",
		"    the check failed after variant 2 (make other), a valid way to do the step (exit 1): no a\n",
		"--- PASS demo/s2 (1 variant) (", "FAIL demo 2 steps, 1 failed (")
	if strings.Contains(out, "cheat 1") {
		t.Error("cheat 1 (a lookalike) was reported, yet the check refuses it")
	}
	ensured, _, _, removed := fake.Calls()
	if len(ensured) != 4 || len(removed) != 4 {
		t.Errorf("ensured %d sandboxes, removed %d: want the lab's and three trial walkers: the cheats', the first and the second variants'", len(ensured), len(removed))
	}
}

// TestTrialWalkers: the walkers carry trials from step to step; what
// looks like a finding there is tried again on a fresh sandbox, where it
// counts.
func TestTrialWalkers(t *testing.T) {
	entries := lab(t, block("setup", "fresh"),
		step("want a", "make a")+block("cheat", "make b")+block("variant", "make a"),
		step("want a\nwant b", "make b")+block("cheat", "# does nothing\ntrue")+block("variant", "make b"),
		step("want c", "make c")+block("cheat", "make d")+block("variant", "make c"))
	rep, out, fake, _ := run(t, entries, Options{})
	if !rep.OK() {
		t.Fatalf("a finding that only the walker's leftovers made was reported:\n%s", out)
	}
	wantLines(t, out, "--- PASS demo/s1 (1 cheat, 1 variant) (", "--- PASS demo/s2 (1 cheat, 1 variant) (", "--- PASS demo/s3 (1 cheat, 1 variant) (")
	ensured, _, _, _ := fake.Calls()
	var keys []string
	for _, k := range ensured {
		keys = append(keys, k.Lab)
	}
	// s2's cheat passes on the cheats walker (s1's cheat left b there), so
	// it is tried again once on a fresh sandbox; nothing else needs one.
	if want := []string{"demo", "demo-cheats", "demo-variants-1", "demo-trial"}; !slices.Equal(keys, want) {
		t.Errorf("sandboxes made: %q, want %q", keys, want)
	}
}

func TestBrokenCheck(t *testing.T) {
	entries := lab(t, "", step("true", "make a"), step("want b", "make b"))
	rep, out, _, _ := run(t, entries, Options{})
	if rep.OK() {
		t.Fatal("a check that passes before its solve was accepted")
	}
	s := rep.Labs[0].Steps
	if s[0].Status != Fail || !strings.Contains(s[0].Problems[0].Message, "check passed before the solve") {
		t.Errorf("step 1 = %+v", s[0])
	}
	if s[1].Status != Pass {
		t.Errorf("step 2 = %+v: a broken check leaves the sandbox right, later steps still run", s[1])
	}
	wantLines(t, out, "--- FAIL demo/s1 (", "    check passed before the solve: a check must fail on a fresh sandbox",
		"FAIL demo 2 steps, 1 failed (", "FAIL: 1 of 1 lab failed, 1 of 2 steps failed (")
}

func TestFailingSolve(t *testing.T) {
	entries := lab(t, "", step("want a", "make x\nexit 3"), step("want b", "make b"))
	rep, out, _, w := run(t, entries, Options{})
	s := rep.Labs[0].Steps
	if s[0].Status != Fail || s[0].Problems[0].Message != "solve failed (exit 3)" || s[0].Problems[0].Output != "boom\n" {
		t.Errorf("step 1 = %+v", s[0])
	}
	if s[1].Status != Skip || w.in("demo")["b"] {
		t.Errorf("step 2 = %+v: after a failed solve later steps are skipped", s[1])
	}
	wantLines(t, out, "--- FAIL demo/s1 (", "    solve failed (exit 3)\n        boom\n", "--- SKIP demo/s2 (", "    not run: step s1 failed before it")
}

func TestCheckFailsAfterSolve(t *testing.T) {
	entries := lab(t, "", step("want a", "make not-a"), step("want b", "make b"))
	rep, out, _, _ := run(t, entries, Options{})
	s := rep.Labs[0].Steps
	if s[0].Status != Fail || !strings.HasPrefix(s[0].Problems[0].Message, "check failed after the solve (exit 1): no a") {
		t.Errorf("step 1 = %+v", s[0])
	}
	if s[1].Status != Skip {
		t.Errorf("step 2 = %+v", s[1])
	}
	// The output is shown unless it is just the message again.
	wantLines(t, out, "    check failed after the solve (exit 1): no a\n--- SKIP demo/s2")
}

func TestSetupFails(t *testing.T) {
	rep, out, fake, _ := run(t, lab(t, block("setup", "exit 2"), step("want a", "make a")), Options{})
	l := rep.Labs[0]
	if l.OK() || l.Error == nil || l.Error.Message != "lab setup failed (exit 2)" || len(l.Steps) != 0 {
		t.Errorf("lab = %+v", l)
	}
	wantLines(t, out, "--- FAIL demo (lab setup)\n    lab setup failed (exit 2)\n        boom\n", "FAIL demo: could not be tested")
	if _, _, _, removed := fake.Calls(); len(removed) != 1 {
		t.Error("the sandbox of a lab whose setup failed was not removed")
	}
}

func TestStepStopsThere(t *testing.T) {
	entries := lab(t, "", step("want a", "make a"), step("want b", "make b"), step("want c", "make c"))
	for _, stop := range []string{"s2", "demo/s2"} {
		rep, out, _, w := run(t, entries, Options{Step: stop, Keep: true})
		l := rep.Labs[0]
		if len(l.Steps) != 2 || l.StoppedAt != "s2" || w.in("demo")["c"] {
			t.Errorf("-step %s: ran %d steps, stopped at %q", stop, len(l.Steps), l.StoppedAt)
		}
		wantLines(t, out, "ok   demo 2 of 3 steps, stopped after s2 (",
			"    sandbox kept: fake\n    enter it with: docker exec -it -u student fake bash -l\n")
	}
	// After a failure, skipped steps stop there too.
	rep, _, _, _ := run(t, lab(t, "", step("want a", "exit 1"), step("want b", "make b"), step("want c", "make c")), Options{Step: "s2"})
	if l := rep.Labs[0]; len(l.Steps) != 2 || l.Steps[1].Status != Skip {
		t.Errorf("-step s2 after a failure: %d steps", len(l.Steps))
	}
	if _, err := Select(entries, "nope"); err == nil {
		t.Error("Select accepted a step no lab has")
	}
	if got, err := Select(entries, "other/s1"); err == nil {
		t.Errorf("Select(other/s1) = %v: the lab is demo", got)
	}
}

func TestKeep(t *testing.T) {
	_, _, fake, _ := run(t, lab(t, "", step("want a", "make a")), Options{Keep: true})
	if _, _, _, removed := fake.Calls(); len(removed) != 0 {
		t.Errorf("-keep removed %v", removed)
	}
}

func TestJUnit(t *testing.T) {
	entries := lab(t, "", step("true", "make a"), step("want b", "exit 1"), step("want c", "make c"))
	rep, _, _, _ := run(t, entries, Options{})
	setupFail, _, _, _ := run(t, lab(t, block("setup", "exit 1"), step("want a", "make a")), Options{})
	rep.Labs = append(rep.Labs, setupFail.Labs...)
	var buf bytes.Buffer
	if err := rep.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", buf.String())
	var got struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Classname string  `xml:"classname,attr"`
				Name      string  `xml:"name,attr"`
				Time      float64 `xml:"time,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("JUnit XML does not parse: %v", err)
	}
	if got.Tests != 4 || got.Failures != 2 || got.Errors != 1 || len(got.Suites) != 2 {
		t.Fatalf("totals = %+v", got)
	}
	s := got.Suites[0]
	if s.Name != "demo" || s.Tests != 3 || s.Failures != 2 || s.Skipped != 1 || len(s.Cases) != 3 {
		t.Fatalf("suite = %+v", s)
	}
	c := s.Cases[0]
	if c.Classname != "demo" || c.Name != "s1" || c.Failure == nil || !strings.Contains(c.Failure.Message, "check passed before the solve") {
		t.Errorf("case 1 = %+v", c)
	}
	if c := s.Cases[1]; c.Failure == nil || !strings.Contains(c.Failure.Text, "boom") {
		t.Errorf("case 2 = %+v: the failure carries the output", c)
	}
	if s.Cases[2].Skipped == nil {
		t.Errorf("case 3 = %+v, want skipped", s.Cases[2])
	}
	if e := got.Suites[1].Cases; len(e) != 1 || e[0].Error == nil || e[0].Name != "(lab setup)" {
		t.Errorf("lab setup failure = %+v", e)
	}
}

func TestCheckTimeoutBeforeSolve(t *testing.T) {
	fake := &sandboxtest.Fake{Answer: func(cmd sandbox.Command) (*sandbox.Result, error) {
		if slices.Contains(cmd.Env, "HANDSON_CHECK=1") {
			return &sandbox.Result{ExitCode: 124}, nil
		}
		return &sandbox.Result{}, nil
	}}
	var out bytes.Buffer
	rep, _ := Run(context.Background(), fake, &labrun.Runner{Exec: fake, CheckTimeout: 3 * time.Second}, lab(t, "", step("sleep 99", "true")), Options{}, &out)
	if rep.OK() || !strings.Contains(out.String(), "A check must answer at once.") {
		t.Errorf("a check that hangs before the solve passed:\n%s", out.String())
	}
}
