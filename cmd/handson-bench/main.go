// Command handson-bench benchmarks the whole platform: it starts it in
// this process, exactly as `handson serve` does, against the host's real
// Docker daemon, and simulates students with websocket clients that speak
// the terminal protocol (docs/terminal.md). It prints the results as a
// Markdown table (docs/benchmarks.md), and with -json every figure, so
// that two builds can be compared (scripts/bench-compare.sh). It is a
// binary of its own so that the product does not link the harness.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

const usageHead = `handson-bench runs the platform benchmarks: the whole platform in this
process, as handson serve runs it, on the host's Docker, with students
simulated by websocket clients. Each run of a scenario gets freshly started
platforms of its own (a fresh instance id each) and removes every sandbox
it made, also when interrupted. The Markdown results go to stdout, the
progress log to stderr.

Usage:
  handson-bench [flags]                    run the scenarios
  handson-bench compare OLD.json NEW.json  every figure of two -json files side by side

Scenarios (-scenario):
`

func usage(fs *flag.FlagSet, w io.Writer) func() {
	return func() {
		fmt.Fprint(w, usageHead)
		for _, sc := range scenarios {
			fmt.Fprintf(w, "  %s\n", sc.name)
			for _, line := range wrap(sc.about, 68) {
				fmt.Fprintf(w, "        %s\n", line)
			}
		}
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return compareCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("handson-bench", flag.ContinueOnError)
	fs.Usage = usage(fs, stderr)
	var (
		o        options
		which    = fs.String("scenario", "all", "the scenarios to run, comma-separated, or all (in the order listed above)")
		runs     = fs.Int("runs", 1, "run each scenario `N` times, each on a freshly started platform; the table gives each figure's median and worst")
		jsonPath = fs.String("json", "", "append every figure to `FILE`, one JSON object a scenario run (for handson-bench compare)")
		logPath  = fs.String("log", "", "also write the progress log to `FILE`")
		timeout  = fs.Duration("timeout", 30*time.Minute, "give up one run of a scenario after this long (its sandboxes are removed)")
	)
	fs.IntVar(&o.students, "students", 10, "students: opened one after the other (open, warm-pool), at once (open-concurrent), left idle (idle-memory)")
	fs.IntVar(&o.pool, "pool", 5, "warm-pool: the warm pool's size")
	fs.DurationVar(&o.idle, "idle", 20*time.Second, "idle-memory: how long the sandboxes stay idle before they are measured")
	fs.IntVar(&o.density, "density", 50, "density: how many sandboxes to try (on a shared daemon mind its address pools: docs/benchmarks.md)")
	fs.IntVar(&o.batch, "batch", 5, "density: sandboxes started at once (and the server's max-starts)")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "density: idle time after each batch")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	selected, err := pick(*which)
	if err == nil && (fs.NArg() > 0) {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err == nil && (*runs < 1 || o.students < 1 || o.pool < 1 || o.density < 1 || o.batch < 1 || o.idle <= 0 || o.settle <= 0 || *timeout <= 0) {
		err = errors.New("-runs, -students, -pool, -density, -batch, -idle, -settle and -timeout must be positive")
	}
	if err != nil {
		fmt.Fprintf(stderr, "handson-bench: %v\n", err)
		fs.Usage()
		return 2
	}

	logw := stderr
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintf(stderr, "handson-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		logw = io.MultiWriter(stderr, f)
	}
	var jsonOut *os.File
	if *jsonPath != "" {
		if jsonOut, err = os.OpenFile(*jsonPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
			fmt.Fprintf(stderr, "handson-bench: %v\n", err)
			return 1
		}
		defer jsonOut.Close()
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		fmt.Fprintf(stderr, "handson-bench: docker client: %v\n", err)
		return 1
	}
	defer cli.Close()
	h := &harness{docker: cli, log: logw}

	// The first interrupt (Ctrl-C, kill) stops the run
	// and removes its sandboxes; a second one quits at once. A log that
	// went away (tee killed by the same Ctrl-C) must not kill the cleanup.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		signal.Stop(sigs)
		h.stopped.Store(true)
		h.logf("%v: stopping, removing the sandboxes of instances %s (interrupt again to quit at once)", s, strings.Join(h.tracked(), " "))
		cancel()
	}()
	defer signal.Stop(sigs)

	started := time.Now()
	var results []Result
	for _, sc := range selected {
		for i := 1; i <= *runs && ctx.Err() == nil; i++ {
			res := h.runScenario(ctx, sc, i, o, *timeout)
			results = append(results, res)
			if jsonOut != nil {
				b, _ := json.Marshal(res)
				if _, err := jsonOut.Write(append(b, '\n')); err != nil {
					h.logf("write %s: %v", *jsonPath, err)
				}
			}
		}
	}
	// Nothing should be left; a last look at every instance made.
	for _, instance := range h.tracked() {
		h.removeInstance(instance)
	}

	command := "handson-bench"
	for _, a := range args {
		command += " " + shellQuote(a)
	}
	report(stdout, machineLine(cli, started), command, *runs, results)
	switch {
	case h.leftovers:
		fmt.Fprintln(stdout, "\n**Some sandboxes could not be removed: see REMOVE BY HAND in the log.**")
		return 1
	case ctx.Err() != nil:
		return 130
	}
	for _, res := range results {
		if len(res.Errors) > 0 {
			return 1
		}
	}
	return 0
}

// wrap breaks text into lines of at most width bytes, between words.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// pick resolves -scenario.
func pick(which string) ([]scenario, error) {
	if which == "all" {
		return scenarios, nil
	}
	var out []scenario
	for _, name := range strings.Split(which, ",") {
		found := false
		for _, sc := range scenarios {
			if sc.name == strings.TrimSpace(name) {
				out, found = append(out, sc), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no scenario %q", name)
		}
	}
	return out, nil
}

// shellQuote quotes a for a shell, when it needs it.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,-") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// harness is what every run shares: the Docker client, the log, and the
// instances made (to remove their sandboxes whatever happens).
type harness struct {
	docker    *client.Client
	log       io.Writer
	mu        sync.Mutex
	instances []string
	leftovers bool        // a removal failed
	stopped   atomic.Bool // interrupted
}

// logf writes a progress line.
func (h *harness) logf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.log, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) track(instance string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.instances = append(h.instances, instance)
}

func (h *harness) tracked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.instances...)
}

// run is one run of a scenario.
type run struct {
	*harness
	name     string // "open, run 1" in the log
	res      *Result
	cleanups []func() // run last first, as t.Cleanup
}

func (r *run) logf(format string, args ...any) {
	r.harness.logf("%s: %s", r.name, fmt.Sprintf(format, args...))
}

func (h *harness) runScenario(ctx context.Context, sc scenario, i int, o options, timeout time.Duration) Result {
	r := &run{harness: h, name: fmt.Sprintf("%s, run %d", sc.name, i),
		res: &Result{Scenario: sc.name, Run: i, Build: buildCommit(), Started: time.Now().UTC()}}
	r.logf("starting")
	rctx, cancel := context.WithTimeout(ctx, timeout)
	err := sc.run(rctx, r, o)
	switch {
	case ctx.Err() != nil:
		r.res.errorf("interrupted")
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		r.res.errorf("gave up after -timeout %s: %v", timeout, err)
	case err != nil:
		r.res.errorf("%v", err)
	}
	cancel()
	r.teardown()
	r.res.Seconds = time.Since(r.res.Started).Seconds()
	r.logf("done in %.0f s", r.res.Seconds)
	return *r.res
}

// sub runs fn as a part of the run with platforms of its own, removed when
// it ends.
func (r *run) sub(label string, fn func() error) error {
	saved, name := r.cleanups, r.name
	r.cleanups, r.name = nil, r.name+", "+label
	defer func() { r.cleanups, r.name = saved, name }()
	defer r.teardown()
	return fn()
}

func (r *run) teardown() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

func compareCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("handson-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	names := fs.String("names", "", "the two columns' `OLD,NEW` names (default: the builds' commits)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: handson-bench compare [-names OLD,NEW] OLD.json NEW.json\n\nPuts every figure of two -json files side by side: median / worst of each\nfile's runs, and how far the median moved.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	var sets [2][]Result
	var cols [2]string
	for i, path := range fs.Args() {
		rs, err := readResults(path)
		if err != nil {
			fmt.Fprintf(stderr, "handson-bench compare: %v\n", err)
			return 1
		}
		sets[i], cols[i] = rs, filepath.Base(path)
		if len(rs) > 0 && rs[0].Build != "" {
			cols[i] = rs[0].Build
		}
	}
	if *names != "" {
		a, b, ok := strings.Cut(*names, ",")
		if !ok {
			fmt.Fprintln(stderr, "handson-bench compare: -names wants OLD,NEW")
			return 2
		}
		cols = [2]string{a, b}
	}
	if cols[0] == cols[1] {
		cols[0], cols[1] = cols[0]+" (1)", cols[1]+" (2)"
	}
	compare(stdout, cols[0], cols[1], sets[0], sets[1])
	return 0
}
