package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers is the house's shape (docs/architecture.md): a package imports
// only packages of lower layers. A package missing here fails the test:
// place it deliberately.
var layers = [][]string{
	// 0: leaves: the lab format, the catalog, the course, pure rules.
	{"content", "frontend", "labs", "internal/i18n", "internal/imageref", "internal/progress", "internal/firewall", "internal/testenv"},
	// 1: errors users may read.
	{"internal/apperr"},
	// 2: the domain: what a sandbox is, the Engine interface, the manager;
	// passwords and tokens.
	{"internal/sandbox", "internal/auth"},
	// 3: services on it, each an adapter of one thing.
	{"internal/config", "internal/preflight", "internal/labrun", "internal/terminal", "internal/preview", "internal/store", "internal/registry"},
	// 4: engines, the fake engine, the lab prover.
	{"internal/sandbox/docker", "internal/sandbox/sandboxtest", "internal/labtest"},
	// 5: the HTTP adapter.
	{"server"},
	// 6: the composition root: the one place that knows every concrete type.
	{"internal/platform"},
	// 7: the command line.
	{"internal/cli"},
	// 8: the binary, the system tests, the benchmarks.
	{".", "tests", "cmd/handson-bench"},
}

// engineClients are the client libraries of sandbox engines, and who may
// import them: the engine, the registry's container, the tests' checks,
// the benchmarks (they measure the sandboxes from the host's side and
// remove a run's sandboxes by its instance label).
var engineClients = map[string][]string{
	"github.com/moby/moby/":     {"internal/sandbox/docker", "internal/registry", "internal/testenv", "tests", "cmd/handson-bench"},
	"github.com/containerd/":    {"internal/sandbox/docker", "internal/registry", "tests", "cmd/handson-bench"},
	"k8s.io/":                   {"internal/sandbox/kube", "tests"},
	"github.com/chromedp/":      {"tests"},
	"handson/internal/sandbox/": {"internal/platform", "tests", "cmd/handson-bench"}, // engines, by the root only (sandboxtest too, in unit tests)
}

// TestDependencyRules checks the import graph against the layers and the
// engine rule; `go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./...`
// shows the same graph.
func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	layer := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layer[p] = i
		}
	}
	short := func(p string) string {
		if p == "handson" {
			return "."
		}
		return strings.TrimPrefix(p, "handson/")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := short(f[0])
		mine, ok := layer[pkg]
		if !ok {
			t.Errorf("%s is in no layer: add it to deps_test.go and docs/architecture.md", pkg)
			continue
		}
		for _, imp := range f[1:] {
			for prefix, who := range engineClients {
				if strings.HasPrefix(imp, prefix) && !slices.Contains(who, pkg) {
					t.Errorf("%s imports %s: only %v may", pkg, imp, who)
				}
			}
			if !strings.HasPrefix(imp, "handson/") && imp != "handson" {
				continue
			}
			if l, ok := layer[short(imp)]; ok && l >= mine {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, mine, short(imp), l)
			}
		}
	}
	// The HTTP adapter does not even link an engine's client.
	deps, err := exec.Command("go", "list", "-deps", "./server").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "github.com/moby/") || strings.HasPrefix(d, "k8s.io/") {
			t.Errorf("server links %s", d)
		}
	}
}
