package cli

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/mattn/go-sqlite3" // the store's driver, for one UPDATE below
	"github.com/moby/moby/client"

	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/testenv"
)

const (
	e2eLab      = "docker-basics"
	e2eStep     = "run-hello"
	e2eCommand  = `docker run --name hello busybox echo "Hello, Docker!"`
	e2eOutput   = "Hello, Dockerz!"
	e2ePrompt   = "student@docker-basics"
	e2eUsername = "e2e-student"
	e2ePassword = "e2e-password-5b1c"
)

// TestEndToEnd drives the platform the way a student does: a real Chromium
// logs in, opens the lab, types into the xterm terminal of a real sandbox,
// and presses Check (once failing, once passing); progress survives a reload.
func TestEndToEnd(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)

	// The platform, on a free port with a fresh database.
	logs := &e2eBuffer{} // server log and stdout; printed only on failure
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	t.Setenv("HANDSON_ADMIN_PASSWORD", "e2e-admin-password")
	a, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
	if err != nil {
		t.Fatalf("start the platform: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close the platform: %v", err)
		}
	})
	labURL := a.Server.URL() + "/labs/" + e2eLab

	// The student, with a user id of its own (see e2eUserID): its sandbox
	// must not be the admin's (user 1) of a developer's `make run`.
	key := sandbox.Key{UserID: e2eUserID(os.Getpid()), Lab: e2eLab}
	e2eSweepSandboxes(t, a, key)
	e2eCreateStudent(t, a, cfg.DataDir, key.UserID)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.engine.Remove(ctx, key); err != nil {
			t.Errorf("remove the sandbox: %v", err)
		}
	})

	b := newE2EBrowser(t, chromium) // closed before the sandbox is removed
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(logs)
		}
	})

	// The lab page sends an anonymous visitor to the login form.
	b.do("open the lab page", chromedp.Navigate(labURL))
	st := b.waitFor("the login page", 10*time.Second, func(s pageState) bool {
		return strings.HasPrefix(s.URL, "/login") && s.HasLoginForm
	})
	if !strings.Contains(st.URL, "next=") {
		t.Errorf("login URL %q: want a next= parameter back to the lab", st.URL)
	}
	// Plain inputs, not xterm: SendKeys types each key once here.
	b.do("fill in the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), e2eUsername),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), e2ePassword),
	)
	if got := e2eRun(b, "read the username field", chromedp.Value(chromedp.CSS(`input[name=username]`))); got != e2eUsername {
		t.Fatalf("username field holds %q after typing %q", got, e2eUsername)
	}
	opened := time.Now()
	b.do("submit the login form", chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)))

	// Back on the lab page: the sandbox comes up and the shell prompts.
	st = b.waitFor("the lab page after login", 15*time.Second, func(s pageState) bool {
		return s.URL == "/labs/"+e2eLab && s.Step.Present
	})
	if st.Step.Status != "none" {
		t.Fatalf("step %s has data-status=%q on a fresh account, want none", e2eStep, st.Step.Status)
	}
	b.waitFor("terminal status ready (the first open creates the sandbox)", 120*time.Second, func(s pageState) bool {
		return s.Terminal == "ready"
	})
	t.Logf("timing: lab page → terminal ready: %s", since(opened))
	b.waitFor("the prompt "+e2ePrompt+" in the terminal", 30*time.Second, func(s pageState) bool {
		return s.screenContains(e2ePrompt)
	})
	t.Logf("timing: lab page → prompt visible: %s", since(opened))

	// Check before doing anything: the check must be able to fail.
	st = b.check("failed")
	if st.Step.Result != "failed" || st.Step.Message == "" {
		t.Fatalf("failing check: .check-result[data-result=%q] says %q, want data-result=failed and a reason", st.Step.Result, st.Step.Message)
	}
	t.Logf("the failing check says: %q", st.Step.Message)

	// Type the command into the terminal as a user does; the container's
	// output is a line of its own (the command line has the quotes).
	b.typeIntoTerminal(e2eCommand)
	typed := time.Now()
	st = b.waitFor("the line "+e2eOutput+" printed by the container", 60*time.Second, func(s pageState) bool {
		return s.screenHasLine(e2eOutput)
	})
	t.Logf("timing: Enter → container output on screen: %s", since(typed))
	if n := strings.Count(st.screen(), e2eCommand); n != 1 {
		t.Fatalf("the command is %d times on the screen, want once (doubled keys?):\n%s", n, st.screen())
	}

	// Check again: now it passes.
	st = b.check("passed")
	if st.Step.Result != "passed" || strings.HasPrefix(st.Step.Message, "Check failed") {
		t.Fatalf("passing check: .check-result[data-result=%q] says %q, want data-result=passed", st.Step.Result, st.Step.Message)
	}

	// Reload: the verdict comes from SQLite and the terminal reconnects.
	reloaded := time.Now()
	b.do("reload the lab page", chromedp.Reload())
	st = b.waitFor("the reloaded lab page", 15*time.Second, func(s pageState) bool {
		return s.URL == "/labs/"+e2eLab && s.Step.Present && s.Generation != st.Generation
	})
	if st.Step.Status != "passed" {
		t.Fatalf("after reload step %s has data-status=%q, want passed (progress is stored)", e2eStep, st.Step.Status)
	}
	b.waitFor("terminal status ready after reload", 60*time.Second, func(s pageState) bool {
		return s.Terminal == "ready"
	})
	b.waitFor("the prompt after reload", 30*time.Second, func(s pageState) bool {
		return s.screenContains(e2ePrompt)
	})
	t.Logf("timing: reload → prompt visible: %s", since(reloaded))
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// --- the test's own sandbox -------------------------------------------------

// e2eUserBase is far above any real account's id; a run's student is
// e2eUserBase + its pid, so concurrent runs do not share a sandbox either.
const e2eUserBase = 1_000_000_000

func e2eUserID(pid int) int64 { return e2eUserBase + int64(pid) }

// e2eSweepSandboxes removes this run's sandbox if an earlier process with
// the same pid left it, and those of runs whose process is gone (killed by
// -timeout or ^C, so their cleanup never ran). Nothing else is touched.
func e2eSweepSandboxes(t *testing.T, a *app, mine sandbox.Key) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, k := range e2eListSandboxes(t, ctx) {
		if k.Lab != e2eLab || k.UserID < e2eUserBase {
			continue
		}
		if k != mine && e2eProcessAlive(int(k.UserID-e2eUserBase)) {
			continue // another run, still going
		}
		t.Logf("removing the leftover sandbox %s", docker.Name(k))
		if err := a.engine.Remove(ctx, k); err != nil {
			t.Fatalf("remove the leftover sandbox %s: %v", docker.Name(k), err)
		}
	}
}

// e2eListSandboxes returns the keys of the platform's containers and
// networks on the host's Docker (a network can outlive its container).
func e2eListSandboxes(t *testing.T, ctx context.Context) []sandbox.Key {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", docker.LabelManaged+"=true")
	containers, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list sandbox containers: %v", err)
	}
	networks, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list sandbox networks: %v", err)
	}
	seen := map[sandbox.Key]bool{}
	var keys []sandbox.Key
	add := func(labels map[string]string) {
		id, err := strconv.ParseInt(labels[docker.LabelUser], 10, 64)
		k := sandbox.Key{UserID: id, Lab: labels[docker.LabelLab]}
		if err == nil && k.Lab != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, c := range containers.Items {
		add(c.Labels)
	}
	for _, n := range networks.Items {
		add(n.Labels)
	}
	return keys
}

func e2eProcessAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// e2eCreateStudent adds the student account with the given id. The store
// numbers users itself, so the row is renumbered before anyone logs in.
func e2eCreateStudent(t *testing.T, a *app, dataDir string, id int64) {
	t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: e2eUsername, DisplayName: "E2E Student", PasswordHash: hash, Role: store.RoleStudent}
	if err := a.db.CreateUser(ctx, u); err != nil {
		t.Fatalf("create the student: %v", err)
	}
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "handson.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE users SET id = ? WHERE id = ?`, id, u.ID); err != nil {
		t.Fatalf("renumber the student: %v", err)
	}
	if got, err := a.db.UserByUsername(ctx, e2eUsername); err != nil || got.ID != id {
		t.Fatalf("the student after renumbering: %+v, %v; want id %d", got, err, id)
	}
}
