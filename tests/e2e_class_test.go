package tests

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"handson/internal/auth"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/testenv"
)

// TestClassroomEndToEnd walks both classroom flows in two real browsers: a
// student registers with the class's join code and passes a step; the
// instructor's dashboard, open all along, shows it without a reload, and
// the grades export contains it.
func TestClassroomEndToEnd(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)
	logs := &e2eBuffer{}
	a := startPlatform(t, t.TempDir(), logs)
	ctx := context.Background()
	url := a.Server.URL()

	hash, _ := auth.HashPassword("teacher-password")
	teacher := &store.User{Username: "teacher", DisplayName: "Teacher", PasswordHash: hash, Role: store.RoleInstructor}
	if err := a.DB.CreateUser(ctx, teacher); err != nil {
		t.Fatal(err)
	}
	class, err := a.DB.CreateClass(ctx, "Docker 2026", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}

	// The instructor opens the dashboard first and keeps it open.
	ib := newE2EBrowser(t, chromium)
	sb := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			ib.dump(logs)
			sb.dump(logs)
		}
	})
	login(ib, url+"/classes/"+strconv.FormatInt(class.ID, 10), "teacher", "teacher-password")
	evalWait(ib, "the dashboard with its live stream", 15*time.Second, `document.querySelector('main.class .live[data-state="on"]') !== null`)

	// The student joins with the code, typed as a student would.
	sb.do("open the registration page", chromedp.Navigate(url+"/register"),
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), strings.ToLower(class.JoinCode)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "s2026001"),
		chromedp.SendKeys(chromedp.CSS(`input[name=display_name]`), "山田 花子"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "hanako-password"),
		chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)),
	)
	evalWait(sb, "the labs page after registering", 15*time.Second, `location.pathname === '/labs'`)
	student, err := a.DB.UserByUsername(ctx, "s2026001")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Engine.Remove(context.Background(), sandbox.Key{UserID: student.ID, Lab: e2eLab}) })

	// A reload of the dashboard shows the new student (rows come from the server).
	ib.do("reload the dashboard", chromedp.Reload())
	cell := fmt.Sprintf(`document.querySelector('tr[data-user="%d"] td.cell[data-lab="%s"][data-step="%s"]')`, student.ID, e2eLab, e2eStep)
	evalWait(ib, "the student's row on the dashboard", 15*time.Second, cell+` !== null && document.querySelector('main.class .live[data-state="on"]') !== null`)

	sb.do("open the lab", chromedp.Navigate(url+"/labs/"+e2eLab))
	sb.waitFor("the prompt", 120*time.Second, func(s pageState) bool { return s.Terminal == "ready" && s.screenContains(e2ePrompt) })
	sb.check("failed")
	evalWait(ib, "the failed check on the dashboard, live", 10*time.Second, cell+`.dataset.status === 'failed'`)
	sb.typeIntoTerminal(e2eCommand)
	sb.waitFor("the container's output", 60*time.Second, func(s pageState) bool { return s.screenHasLine(e2eOutput) })
	passed := time.Now()
	sb.check("passed")
	evalWait(ib, "the passed check on the dashboard, live", 10*time.Second, cell+`.dataset.status === 'passed'`)
	t.Logf("timing: check passed → dashboard updated: %s", since(passed))

	// The export has the student's point.
	body := e2eRun(ib, "download the grades", chromedp.Evaluate[string](
		fmt.Sprintf(`fetch('/classes/%d/grades.csv').then(r => r.text())`, class.ID), chromedp.EvalAwaitPromise))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("grades CSV: %v\n%s", err, body)
	}
	head, row := rows[0], rows[1]
	col := func(name string) string {
		for i, h := range head {
			if h == name {
				return row[i]
			}
		}
		return "(no column " + name + ")"
	}
	if row[0] != "s2026001" || row[1] != "山田 花子" || col(e2eLab) != "1" || col("points") != "1" || col("last_passed_at") == "" {
		t.Errorf("grades row %v (header %v): want s2026001 with 1 point", row, head)
	}
}

// login fills the login form the page at u sends an anonymous visitor to.
func login(b *e2eBrowser, u, user, password string) {
	b.t.Helper()
	b.do("open "+u, chromedp.Navigate(u))
	evalWait(b, "the login form", 10*time.Second, `document.querySelector('main.login input[name=username]') !== null`)
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`main.login button[type=submit]`)),
	)
}

// evalWait polls a JavaScript condition until it is true.
func evalWait(b *e2eBrowser, what string, timeout time.Duration, js string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("waited %s for %s (%s); last error: %v", timeout, what, js, lastErr)
}
