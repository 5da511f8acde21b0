package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/mattn/go-sqlite3" // the store's driver, for one UPDATE below

	"handson/internal/auth"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/testenv"
)

const (
	e2eLab      = "docker-basics"
	e2eStep     = "run-hello"
	e2eCommand  = `docker run --name hello busybox echo "Hello, Docker!"`
	e2eOutput   = "Hello, Docker!"
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
	a := startPlatform(t, t.TempDir(), logs)
	labURL := a.Server.URL() + "/labs/" + e2eLab

	// A fresh data dir is a new installation (its own instance id), so this
	// sandbox cannot be a developer's or another run's.
	key := sandbox.Key{UserID: e2eCreateStudent(t, a), Lab: e2eLab}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.Engine.Remove(ctx, key); err != nil {
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

// e2eCreateStudent adds the student account and returns its id.
func e2eCreateStudent(t *testing.T, a *platform.Platform) int64 {
	t.Helper()
	hash, err := auth.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: e2eUsername, DisplayName: "E2E Student", PasswordHash: hash, Role: store.RoleStudent}
	if err := a.DB.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create the student: %v", err)
	}
	return u.ID
}
