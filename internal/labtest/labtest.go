// Package labtest proves labs on real sandboxes, like `go test` proves
// code: for each lab a fresh sandbox, its assets and setup, then for each
// step in order its setup, its check (which must fail: nothing is done
// yet), its solve (which must succeed), and its check again (which must
// pass). Then each step's cheats (the check must fail after each) and
// variants (other valid ways: the check must pass), on trial sandboxes
// that walk the lab alongside (see trials). Every script runs through
// internal/labrun, exactly as on the server.
package labtest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"handson/content"
	"handson/internal/labrun"
	"handson/internal/sandbox"
)

// Options say how to test.
type Options struct {
	// Keep leaves each lab's sandbox running for a look inside.
	Keep bool
	// Step, "ID" or "LAB/ID", stops each lab that has the step after it;
	// labs without it are not tested.
	Step string
	// Verbose prints every phase of every step with the scripts' output.
	Verbose bool
	// Env ("NAME=value") is given to checks and solves (HANDSON_USER);
	// SolveEnv to solves only (HANDSON_REGISTRY_TOKEN: a check never gets
	// the student's credentials, as on the server).
	Env, SolveEnv []string
}

// Status is how a step went.
type Status string

// Statuses of a step.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP" // not run: an earlier step failed
)

// StepResult is how one step went.
type StepResult struct {
	ID       string
	Status   Status
	Problems []Problem // why it failed or was skipped
	Duration time.Duration
}

// Problem is one thing wrong with a step, with the output that shows it.
type Problem struct {
	Message string
	Output  string
}

// LabResult is how one lab went.
type LabResult struct {
	ID, File string
	// Error is set when the lab could not be tested: its sandbox did not
	// start, its assets or its setup failed.
	Error     *Problem
	Steps     []*StepResult
	StoppedAt string // the step --step stopped at
	Total     int    // steps the lab has
	Sandbox   string // the kept sandbox's name (Keep)
	Started   time.Time
	Duration  time.Duration
}

// Failed counts the lab's failed steps.
func (l *LabResult) Failed() int {
	n := 0
	for _, s := range l.Steps {
		if s.Status == Fail {
			n++
		}
	}
	return n
}

// OK reports whether the lab passed.
func (l *LabResult) OK() bool { return l.Error == nil && l.Failed() == 0 }

// Report is what a run found.
type Report struct {
	Labs     []*LabResult
	Duration time.Duration
}

// OK reports whether every lab passed.
func (r *Report) OK() bool {
	for _, l := range r.Labs {
		if !l.OK() {
			return false
		}
	}
	return true
}

// Select returns the entries a run with step ("", "ID" or "LAB/ID") tests,
// or an error when no lab has that step.
func Select(entries []*content.Entry, step string) ([]*content.Entry, error) {
	if step == "" {
		return entries, nil
	}
	var out []*content.Entry
	for _, e := range entries {
		if stopAt(e, step) != "" {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no lab has a step %q", step)
	}
	return out, nil
}

// stopAt is the id of the step a run with --step step stops after in e,
// or "" when e does not have it.
func stopAt(e *content.Entry, step string) string {
	lab, id, ok := strings.Cut(step, "/")
	if !ok {
		lab, id = e.ID, step
	}
	if lab == e.ID && e.Primary.Step(id) != nil {
		return id
	}
	return ""
}

// Run tests entries one after another, printing as it goes to out, and
// returns the report. Its error is ctx's when the run was cut short; a
// failing lab is in the report, not an error.
func Run(ctx context.Context, engine sandbox.Engine, labs *labrun.Runner, entries []*content.Entry, opts Options, out io.Writer) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	for _, e := range entries {
		stop := ""
		if opts.Step != "" {
			if stop = stopAt(e, opts.Step); stop == "" {
				continue
			}
		}
		r := &runner{engine: engine, labs: labs, opts: opts, out: out}
		lr := r.lab(ctx, e, stop)
		rep.Labs = append(rep.Labs, lr)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Duration = time.Since(start)
	printSummary(out, rep)
	return rep, ctx.Err()
}

type runner struct {
	engine sandbox.Engine // starts and removes the sandboxes
	labs   *labrun.Runner // runs the scripts in them
	opts   Options
	out    io.Writer
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// verbosef prints only with Verbose.
func (r *runner) verbosef(format string, args ...any) {
	if r.opts.Verbose {
		r.printf(format, args...)
	}
}

func (r *runner) lab(ctx context.Context, e *content.Entry, stop string) *LabResult {
	lab := e.Primary
	lr := &LabResult{ID: e.ID, File: lab.File, StoppedAt: stop, Total: len(lab.Steps), Started: time.Now()}
	r.printf("=== LAB %s (%s)\n", e.ID, lab.File)
	defer func() {
		lr.Duration = time.Since(lr.Started)
		r.labLine(lr)
	}()
	// The trials run once the lab's own sandbox is gone.
	if r.walk(ctx, e, stop, lr) && ctx.Err() == nil {
		r.trials(ctx, e, lr)
	}
	return lr
}

// walk runs the lab's steps in order on its sandbox, into lr; it reports
// whether every step left the sandbox as it should.
func (r *runner) walk(ctx context.Context, e *content.Entry, stop string, lr *LabResult) bool {
	key := sandbox.Key{UserID: 0, Lab: e.ID}
	t := time.Now()
	sb, err := r.start(ctx, key, e.Primary)
	if err != nil {
		lr.Error = &Problem{Message: "the sandbox did not start: " + cause(ctx, err)}
		r.labError(lr)
		if !r.opts.Keep {
			r.remove(key)
		}
		return false
	}
	r.verbosef("    sandbox %s ready (%s)\n", sb.Name, secs(time.Since(t)))
	defer func() {
		if r.opts.Keep {
			lr.Sandbox = sb.Name
			r.printf("    sandbox kept: %s\n    enter it with: docker exec -it -u student %s bash -l\n"+
				"    remove it with: docker rm -f %s && docker network rm %s\n", sb.Name, sb.Name, sb.Name, sb.Name)
			return
		}
		r.remove(key)
	}()

	if p := r.prepare(ctx, e, sb); p != nil {
		lr.Error = p
		r.labError(lr)
		return false
	}

	var failed string // the step that left the sandbox in an unknown state
	for _, st := range e.Primary.Steps {
		if ctx.Err() != nil {
			break
		}
		if failed != "" {
			sr := &StepResult{ID: st.ID, Status: Skip, Problems: []Problem{{Message: "not run: step " + failed + " failed before it"}}}
			lr.Steps = append(lr.Steps, sr)
			r.stepLine(lr, sr)
			if st.ID == stop {
				break
			}
			continue
		}
		sr, broken := r.step(ctx, e.Primary, sb, st)
		lr.Steps = append(lr.Steps, sr)
		r.stepLine(lr, sr)
		if broken {
			failed = st.ID
		}
		if st.ID == stop {
			break
		}
	}
	return failed == ""
}

// start makes key's sandbox for lab and waits until it is ready.
func (r *runner) start(ctx context.Context, key sandbox.Key, lab *content.Lab) (*sandbox.Sandbox, error) {
	sb, err := r.engine.Ensure(ctx, key, r.labs.Spec(lab), nil)
	if err == nil {
		err = r.engine.WaitReady(ctx, sb)
	}
	return sb, err
}

// prepare copies the lab's assets into sb and runs its setup.
func (r *runner) prepare(ctx context.Context, e *content.Entry, sb *sandbox.Sandbox) *Problem {
	if e.Assets != nil {
		t := time.Now()
		if err := r.labs.CopyAssets(ctx, sb, e.Assets); err != nil {
			return &Problem{Message: "copying assets/ into the sandbox failed: " + err.Error()}
		}
		r.verbosef("    assets copied (%s)\n", secs(time.Since(t)))
	}
	if e.Primary.Setup != "" {
		res, p := r.script(ctx, sb, "root", "lab setup", e.Primary.Setup)
		if p != nil {
			return p
		}
		r.verbosef("    lab setup (%s)\n", secs(res.Duration))
		r.verboseOutput(string(res.Output))
	}
	return nil
}

// trials runs the cheats and the variants of each step that passed.
// Trial sandboxes walk the lab alongside, so that a lab costs a few
// sandboxes rather than one per trial brought through every step before
// it: on one, each step's cheats (the check must fail after each), then
// its solve; on the k-th of the others, each step's k-th variant (the
// check must pass), which then stands for the step (steps with fewer
// variants are done by their solve). A walker that has run a trial
// carries what it left: a finding on it (a cheat passed, a variant
// failed) is tried again on a fresh sandbox brought to the step by the
// solves, and counts only there; a walker whose way on fails is replaced
// by a fresh one.
func (r *runner) trials(ctx context.Context, e *content.Entry, lr *LabResult) {
	cheats := &walker{r: r, e: e, key: sandbox.Key{UserID: 0, Lab: e.ID + "-cheats"}}
	defer cheats.drop()
	var variants []*walker
	defer func() {
		for _, w := range variants {
			w.drop()
		}
	}()
	steps := e.Primary.Steps
	for i, sr := range lr.Steps {
		st := steps[i]
		if len(st.Cheats)+len(st.Variants) == 0 || sr.Status != Pass || ctx.Err() != nil {
			continue
		}
		start := time.Now()
		var problems []Problem
		if len(st.Cheats) > 0 {
			ps, _ := cheats.try(ctx, i, func(sb *sandbox.Sandbox) ([]Problem, bool) { return r.cheats(ctx, e.Primary, sb, st) })
			problems = append(problems, ps...)
			cheats.clean = false
		}
		for k, v := range st.Variants {
			if k == len(variants) {
				variants = append(variants, &walker{r: r, e: e, key: sandbox.Key{UserID: 0, Lab: fmt.Sprintf("%s-variants-%d", e.ID, k+1)}})
			}
			w := variants[k]
			ps, done := w.try(ctx, i, func(sb *sandbox.Sandbox) ([]Problem, bool) {
				ps := r.variant(ctx, e.Primary, sb, st, k, v)
				return ps, len(ps) > 0
			})
			if done {
				w.next, w.setUp, w.clean = i+1, false, false // the variant did the step
			} else {
				w.drop()
			}
			problems = append(problems, ps...)
		}
		var tried []string
		if n := len(st.Cheats); n > 0 {
			tried = append(tried, plural(n, "cheat"))
		}
		if n := len(st.Variants); n > 0 {
			tried = append(tried, plural(n, "variant"))
		}
		tr := &StepResult{ID: st.ID + " (" + strings.Join(tried, ", ") + ")", Status: Pass, Problems: problems, Duration: time.Since(start)}
		if len(problems) > 0 {
			tr.Status = Fail
			sr.Status = Fail
			sr.Problems = append(sr.Problems, problems...)
		}
		r.stepLine(lr, tr)
	}
}

// walker is a trial sandbox that walks a lab step by step.
type walker struct {
	r     *runner
	e     *content.Entry
	key   sandbox.Key
	sb    *sandbox.Sandbox // nil: none yet, or dropped
	next  int              // the first step not done on sb
	setUp bool             // step next's setup has run
	clean bool             // only setups and solves have run on sb
}

// try runs trial on the walker's sandbox brought to step i. A trial
// reports its problems and whether it doubts its result; a doubt on a
// walker that is not clean is settled on a fresh sandbox brought to the
// step by the solves, whose result counts. ok reports that the trial ran
// on the walker without doubt.
func (w *walker) try(ctx context.Context, i int, trial func(*sandbox.Sandbox) ([]Problem, bool)) (ps []Problem, ok bool) {
	sb, p := w.at(ctx, i)
	if p != nil {
		return []Problem{*p}, false
	}
	clean := w.clean
	ps, doubt := trial(sb)
	if !doubt || clean || ctx.Err() != nil {
		return ps, !doubt
	}
	w.r.verbosef("    trying again on a fresh sandbox: the trial walker carries earlier trials\n")
	return w.r.trial(ctx, w.e, i, trial), false
}

// at returns the walker's sandbox at step i: the steps before it done,
// its setup run. It goes on from where the walker is with the solves, or
// starts afresh when it has no sandbox, is past i, or cannot go on.
func (w *walker) at(ctx context.Context, i int) (*sandbox.Sandbox, *Problem) {
	if w.sb != nil && w.next <= i {
		if w.on(ctx, i) {
			return w.sb, nil
		}
		w.r.verbosef("    the trial walker could not go on to step %d; a fresh one\n", i+1)
	}
	w.drop()
	sb, err := w.r.start(ctx, w.key, w.e.Primary)
	if err != nil {
		w.r.remove(w.key)
		return nil, &Problem{Message: "the trial's sandbox did not start: " + cause(ctx, err)}
	}
	if p := w.r.bring(ctx, w.e, sb, i); p != nil {
		w.r.remove(w.key)
		p.Message = "bringing a trial's sandbox to the step: " + p.Message
		return nil, p
	}
	w.sb, w.next, w.setUp, w.clean = sb, i, true, true
	return sb, nil
}

// on takes the walker's sandbox from step next to step i with the solves.
func (w *walker) on(ctx context.Context, i int) bool {
	steps := w.e.Primary.Steps
	for ; ; w.next++ {
		st := steps[w.next]
		if !w.setUp && st.Setup != "" {
			if _, p := w.r.script(ctx, w.sb, "root", "setup of "+st.ID, st.Setup); p != nil {
				return false
			}
		}
		w.setUp = true
		if w.next == i {
			return true
		}
		if st.Solve != "" {
			env := slices.Concat(w.r.opts.Env, w.r.opts.SolveEnv)
			if _, p := w.r.script(ctx, w.sb, "", "solve of "+st.ID, st.Solve, env...); p != nil {
				return false
			}
		}
		w.setUp = false
	}
}

// drop removes the walker's sandbox.
func (w *walker) drop() {
	if w.sb != nil {
		w.r.remove(w.key)
		w.sb = nil
	}
}

// trial runs try on a fresh sandbox brought to step i.
func (r *runner) trial(ctx context.Context, e *content.Entry, i int, try func(*sandbox.Sandbox) ([]Problem, bool)) []Problem {
	key := sandbox.Key{UserID: 0, Lab: e.ID + "-trial"}
	defer r.remove(key)
	sb, err := r.start(ctx, key, e.Primary)
	if err != nil {
		return []Problem{{Message: "the trial's sandbox did not start: " + cause(ctx, err)}}
	}
	if p := r.bring(ctx, e, sb, i); p != nil {
		p.Message = "bringing a trial's sandbox to the step: " + p.Message
		return []Problem{*p}
	}
	ps, _ := try(sb)
	return ps
}

// bring takes a new sandbox to step i: assets, lab setup, the setups and
// solves of the steps before it, and its setup.
func (r *runner) bring(ctx context.Context, e *content.Entry, sb *sandbox.Sandbox, i int) *Problem {
	if p := r.prepare(ctx, e, sb); p != nil {
		return p
	}
	for j, st := range e.Primary.Steps[:i+1] {
		if st.Setup != "" {
			if _, p := r.script(ctx, sb, "root", "setup of "+st.ID, st.Setup); p != nil {
				return p
			}
		}
		if j < i && st.Solve != "" {
			if _, p := r.script(ctx, sb, "", "solve of "+st.ID, st.Solve, slices.Concat(r.opts.Env, r.opts.SolveEnv)...); p != nil {
				return p
			}
		}
	}
	return nil
}

// cheats runs st's cheats in turn on sb; the check must fail after each.
// It doubts its result when a cheat passed, or failed to run to its end
// (on a sandbox left as earlier trials left it, a cheat may fail for
// their sake and so prove nothing).
func (r *runner) cheats(ctx context.Context, lab *content.Lab, sb *sandbox.Sandbox, st *content.Step) (problems []Problem, doubt bool) {
	for k, c := range st.Cheats {
		what := fmt.Sprintf("cheat %d (%s)", k+1, firstLine(c))
		res, err := r.labs.Solve(ctx, sb, c, slices.Concat(r.opts.Env, r.opts.SolveEnv)...)
		if err != nil {
			return append(problems, Problem{Message: what + " could not run: " + cause(ctx, err)}), true
		}
		doubt = doubt || res.ExitCode != 0
		r.verbosef("    %s ran (exit %d, %s)\n", what, res.ExitCode, secs(res.Duration))
		r.verboseOutput(string(res.Output))
		chk, err := r.labs.Check(ctx, sb, lab, st, r.opts.Env...)
		switch {
		case err != nil:
			return append(problems, Problem{Message: "the check after " + what + " could not run: " + cause(ctx, err)}), true
		case chk.Passed:
			problems = append(problems, Problem{Message: what + " passed the check: it must fail students who did not do the step", Output: chk.Output})
		case chk.ExitCode == labrun.ExitTimeout || chk.ExitCode == 126 || chk.ExitCode == 127:
			problems = append(problems, Problem{Message: fmt.Sprintf("the check after %s broke (exit %d): %s", what, chk.ExitCode, chk.Message), Output: chk.Output})
		default:
			r.verbosef("    the check refuses %s: %s\n", what, chk.Message)
		}
	}
	return problems, doubt || len(problems) > 0
}

// variant runs variant k of st on sb; it must succeed, and the check pass.
func (r *runner) variant(ctx context.Context, lab *content.Lab, sb *sandbox.Sandbox, st *content.Step, k int, v string) []Problem {
	what := fmt.Sprintf("variant %d (%s)", k+1, firstLine(v))
	if _, p := r.script(ctx, sb, "", what, v, slices.Concat(r.opts.Env, r.opts.SolveEnv)...); p != nil {
		return []Problem{*p}
	}
	chk, err := r.labs.Check(ctx, sb, lab, st, r.opts.Env...)
	switch {
	case err != nil:
		return []Problem{{Message: "the check after " + what + " could not run: " + cause(ctx, err)}}
	case !chk.Passed:
		return []Problem{{Message: fmt.Sprintf("the check failed after %s, a valid way to do the step (exit %d): %s", what, chk.ExitCode, chk.Message), Output: chk.Output}}
	}
	r.verbosef("    the check accepts %s\n", what)
	return nil
}

// firstLine names a script by its first line: its comment, else its
// first command.
func firstLine(script string) string {
	for l := range strings.SplitSeq(script, "\n") {
		if l = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "#")); l != "" {
			if len(l) > 60 {
				l = l[:57] + "..."
			}
			return l
		}
	}
	return "empty"
}

// remove deletes a sandbox even when the run's context has ended.
func (r *runner) remove(key sandbox.Key) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.engine.Remove(ctx, key); err != nil {
		r.printf("    removing the sandbox failed: %v\n", err)
	}
}

// step runs one step. broken reports that the sandbox is not in the state
// the step should leave, so later steps cannot be judged.
func (r *runner) step(ctx context.Context, lab *content.Lab, sb *sandbox.Sandbox, st *content.Step) (sr *StepResult, broken bool) {
	start := time.Now()
	sr = &StepResult{ID: st.ID, Status: Pass}
	defer func() {
		sr.Duration = time.Since(start)
		if len(sr.Problems) > 0 {
			sr.Status = Fail
		}
	}()
	r.verbosef("=== RUN   %s/%s\n", lab.ID, st.ID)
	fail := func(msg, output string) { sr.Problems = append(sr.Problems, Problem{Message: msg, Output: output}) }

	if st.Setup != "" {
		res, p := r.script(ctx, sb, "root", "setup", st.Setup)
		if p != nil {
			sr.Problems = append(sr.Problems, *p)
			return sr, true
		}
		r.verbosef("    setup (%s)\n", secs(res.Duration))
		r.verboseOutput(string(res.Output))
	}
	if st.Check != "" {
		res, err := r.labs.Check(ctx, sb, lab, st, r.opts.Env...)
		if err != nil {
			fail("the check before the solve could not run: "+cause(ctx, err), "")
			return sr, true
		}
		switch {
		case res.Passed:
			fail("check passed before the solve: a check must fail on a fresh sandbox, or it passes students who did nothing", res.Output)
		case res.ExitCode == labrun.ExitTimeout:
			fail("check before the solve: "+res.Message+" A check must answer at once.", res.Output)
		case res.ExitCode == 126 || res.ExitCode == 127:
			fail(fmt.Sprintf("check before the solve could not run a command (exit %d): %s", res.ExitCode, res.Message), res.Output)
		default:
			r.verbosef("    check before the solve fails, as it should (exit %d, %s): %s\n", res.ExitCode, secs(res.Duration), res.Message)
		}
	}
	if st.Solve != "" {
		res, p := r.script(ctx, sb, "", "solve", st.Solve, slices.Concat(r.opts.Env, r.opts.SolveEnv)...)
		if p != nil {
			sr.Problems = append(sr.Problems, *p)
			return sr, true
		}
		r.verbosef("    solve (%s)\n", secs(res.Duration))
		r.verboseOutput(string(res.Output))
	}
	if st.Check != "" {
		res, err := r.labs.Check(ctx, sb, lab, st, r.opts.Env...)
		if err != nil {
			fail("the check after the solve could not run: "+cause(ctx, err), "")
			return sr, true
		}
		if !res.Passed {
			fail(fmt.Sprintf("check failed after the solve (exit %d): %s", res.ExitCode, res.Message), res.Output)
			return sr, true
		}
		r.verbosef("    check after the solve passes (%s)\n", secs(res.Duration))
		r.verboseOutput(string(res.Output))
	} else {
		r.verbosef("    no check\n")
	}
	return sr, false
}

// script runs a setup (user "root") or a solve (the student) with env;
// the problem is set when it fails.
func (r *runner) script(ctx context.Context, sb *sandbox.Sandbox, user, what, script string, env ...string) (*sandbox.Result, *Problem) {
	run := r.labs.Solve
	if user == "root" {
		run = r.labs.Setup
	}
	res, err := run(ctx, sb, script, env...)
	switch {
	case err != nil:
		return nil, &Problem{Message: what + " could not run: " + cause(ctx, err)}
	case res.ExitCode == labrun.ExitTimeout:
		return res, &Problem{Message: fmt.Sprintf("%s did not finish within %s (see -script-timeout)", what, r.labs.ScriptLimit()), Output: string(res.Output)}
	case res.ExitCode != 0:
		return res, &Problem{Message: fmt.Sprintf("%s failed (exit %d)", what, res.ExitCode), Output: string(res.Output)}
	}
	return res, nil
}

// cause explains err, which may only be the run being interrupted.
func cause(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted (" + ctx.Err().Error() + ")"
	}
	return err.Error()
}

func (r *runner) verboseOutput(out string) {
	if r.opts.Verbose {
		r.printf("%s", indent(out, "        "))
	}
}

func (r *runner) stepLine(lr *LabResult, sr *StepResult) {
	r.printf("--- %s %s/%s (%s)\n", sr.Status, lr.ID, sr.ID, secs(sr.Duration))
	for _, p := range sr.Problems {
		r.printf("    %s\n", p.Message)
		if out := strings.TrimSpace(p.Output); !strings.HasSuffix(p.Message, out) || strings.Contains(out, "\n") {
			r.printf("%s", indent(p.Output, "        "))
		}
	}
}

func (r *runner) labError(lr *LabResult) {
	r.printf("--- FAIL %s (lab setup)\n    %s\n", lr.ID, lr.Error.Message)
	r.printf("%s", indent(lr.Error.Output, "        "))
}

func (r *runner) labLine(lr *LabResult) {
	steps := fmt.Sprintf("%d steps", lr.Total)
	if lr.StoppedAt != "" {
		steps = fmt.Sprintf("%d of %d steps, stopped after %s", len(lr.Steps), lr.Total, lr.StoppedAt)
	}
	switch {
	case lr.Error != nil:
		r.printf("FAIL %s: could not be tested (%s)\n", lr.ID, secs(lr.Duration))
	case lr.Failed() > 0:
		r.printf("FAIL %s %s, %d failed (%s)\n", lr.ID, steps, lr.Failed(), secs(lr.Duration))
	default:
		r.printf("ok   %s %s (%s)\n", lr.ID, steps, secs(lr.Duration))
	}
}

func printSummary(out io.Writer, rep *Report) {
	labs, badLabs, steps, badSteps := len(rep.Labs), 0, 0, 0
	for _, l := range rep.Labs {
		if !l.OK() {
			badLabs++
		}
		steps += len(l.Steps)
		badSteps += l.Failed()
	}
	if rep.OK() {
		fmt.Fprintf(out, "PASS: %s, %s passed (%s)\n", plural(labs, "lab"), plural(steps, "step"), secs(rep.Duration))
		return
	}
	fmt.Fprintf(out, "FAIL: %d of %s failed, %d of %s failed (%s)\n", badLabs, plural(labs, "lab"), badSteps, plural(steps, "step"), secs(rep.Duration))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// indent prefixes every line of s; "" stays "".
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}
