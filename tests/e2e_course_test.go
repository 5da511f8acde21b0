package tests

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"handson/content"
	"handson/internal/platform"
	"handson/internal/sandbox"
	"handson/internal/testenv"
	"handson/labs"
)

// TestCourseInBrowser walks labs of the built-in course as a student does,
// in a real Chromium, each on a real sandbox of its own: on every step with
// a check it presses Check (which must fail, with a reason), then does the
// step the way its guide says, through the page (the Run ▶ buttons, typing
// into the terminal, the access token page), then presses Check until it
// passes. After the last step, a reload shows every step passed.
func TestCourseInBrowser(t *testing.T) {
	testenv.RequireDocker(t)
	chromium := testenv.Chromium(t)
	course, err := content.Load(labs.Course)
	if err != nil {
		t.Fatalf("the built-in course: %v", err)
	}
	logs := &e2eBuffer{}
	a := startPlatform(t, t.TempDir(), logs)
	platformURL := a.Server.URL()

	for _, tc := range []struct {
		lab  string
		acts map[string]stepAct // steps not done by pressing every Run ▶ in turn
	}{
		{"install-docker", map[string]stepAct{
			"start": func(w courseWalker, id string) {
				for i := range 3 { // docker version (no daemon yet), echo $DOCKER_HOST, nohup dockerd-rootless.sh &
					w.runIdle(id, i)
				}
				// The guide: if grep shows nothing, wait a few seconds and run it again.
				w.runUntil(id, 3, "the daemon's API listen line", 3*time.Minute, func(s pageState) bool { return s.screenContains("API listen on") })
				w.idle("the shell after grep", 30*time.Second)
				for i := 4; i < w.execBlocks(id); i++ {
					w.runIdle(id, i)
				}
			},
			"what-happened": func(w courseWalker, id string) {
				for i := range w.execBlocks(id) {
					w.runIdle(id, i)
				}
				w.prune() // the guide's way to remove both hello-world containers
			},
		}},
		{"docker-basics", map[string]stepAct{
			"run-it": func(w courseWalker, id string) {
				w.run(id, 0) // docker run -it busybox sh
				w.waitScreen("the container's shell prompt", 60*time.Second, func(s pageState) bool { return lastLine(s) == "/ #" })
				for _, line := range []string{"hostname", "ps", "ls /", "exit"} {
					w.b.typeIntoTerminal(line)
				}
				w.idle("the shell after exit", 30*time.Second)
			},
			"remove": func(w courseWalker, id string) {
				w.runIdle(id, 0) // docker stop web; docker ps; docker ps -a
				w.prune()        // the guide offers docker rm with the names, or this
			},
			"login": func(w courseWalker, id string) {
				token := w.newToken(platformURL, "my-sandbox")
				w.runIdle(id, 0) // echo $REGISTRY $HANDSON_USER
				w.run(id, 1)     // docker login $REGISTRY -u $HANDSON_USER
				w.waitScreen("docker login's Password: prompt", 30*time.Second, func(s pageState) bool {
					return strings.HasPrefix(lastLine(s), "Password:")
				})
				w.b.typeIntoTerminal(token)
				w.waitScreen("Login Succeeded", 30*time.Second, func(s pageState) bool { return s.screenHasLine("Login Succeeded") })
				w.idle("the shell after docker login", 30*time.Second)
			},
		}},
		{"container-security", map[string]stepAct{
			"limits": func(w courseWalker, id string) {
				// docker update fails in the sandbox (no cgroups), as the guide shows.
				w.runIdleAllowing(id, 0, "could not join or create cgroup")
				for i := 1; i < w.execBlocks(id); i++ {
					w.runIdle(id, i)
				}
			},
		}},
	} {
		t.Run(tc.lab, func(t *testing.T) {
			e := course.Lab(tc.lab)
			if e == nil {
				t.Fatalf("the course has no lab %q", tc.lab)
			}
			walkCourseLab(t, chromium, a, logs, e.Primary, tc.acts)
		})
	}
}

// stepAct does one step as a student would, through the page.
type stepAct func(w courseWalker, id string)

func walkCourseLab(t *testing.T, chromium string, a *platform.Platform, logs *e2eBuffer, lab *content.Lab, acts map[string]stepAct) {
	begun := time.Now()
	platformURL := a.Server.URL()
	user := "walk-" + lab.ID
	password := user + "-password-3f9a"
	key := sandbox.Key{UserID: createStudent(t, a, user, password), Lab: lab.ID}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.Engine.Remove(ctx, key); err != nil {
			t.Errorf("remove the sandbox: %v", err)
		}
	})
	b := newE2EBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(logs)
		}
	})
	login(b, platformURL+"/labs/"+lab.ID, user, password)
	evalWait(b, "the lab page after login", 15*time.Second, `location.pathname === '/labs/`+lab.ID+`'`)
	b.waitFor("the prompt in the terminal", 120*time.Second, func(s pageState) bool {
		return s.Terminal == "ready" && prompt.MatchString(lastLine(s))
	})
	t.Logf("timing: login → prompt: %s", since(begun))

	w := courseWalker{wpWalker{b}}
	checks := 0
	for _, st := range lab.Steps {
		started := time.Now()
		if st.Check != "" {
			checks++
			if v := w.check(st.ID); v.Result != "failed" || v.Message == "" {
				t.Fatalf("Check of %s before its work: %+v, want failed with a reason", st.ID, v)
			}
		}
		if act, ok := acts[st.ID]; ok {
			act(w, st.ID)
		} else {
			n := w.execBlocks(st.ID)
			for i := range n {
				w.runIdle(st.ID, i)
			}
		}
		if st.Check != "" {
			w.checkPasses(st.ID, 3*time.Minute)
		}
		t.Logf("timing: step %s: %s", st.ID, since(started))
	}
	b.do("reload the lab page", chromedp.Reload())
	evalWait(b, fmt.Sprintf("all %d checked steps passed after a reload", checks), 20*time.Second,
		fmt.Sprintf(`document.querySelectorAll('section.step[data-status="passed"]').length === %d`, checks))
	t.Logf("timing: the whole lab %s as a student: %s", lab.ID, since(begun))
}

// courseWalker is a wpWalker that also waits for the shell between
// commands and types the way a student does.
type courseWalker struct{ wpWalker }

// prompt is the student's shell prompt, waiting for a command.
var prompt = regexp.MustCompile(`^student@[\w.-]+:[^$#]*\$$`)

func lastLine(s pageState) string {
	if len(s.Screen) == 0 {
		return ""
	}
	return strings.TrimSpace(s.Screen[len(s.Screen)-1])
}

// execBlocks counts the step's Run ▶ buttons.
func (w courseWalker) execBlocks(id string) int {
	return e2eRun(w.b, "count the Run buttons of "+id, chromedp.Evaluate[int](
		`document.querySelectorAll('#step-`+id+` .codeblock[data-role="exec"] .run-button').length`))
}

// runIdle presses a Run ▶ button and waits for the shell to finish; a
// new Docker error or unknown command on the screen fails the test.
func (w courseWalker) runIdle(id string, n int) {
	w.b.t.Helper()
	w.runIdleAllowing(id, n, "")
}

// runIdleAllowing is runIdle for a block whose guide shows an error:
// the screen must then show allowed.
func (w courseWalker) runIdleAllowing(id string, n int, allowed string) {
	w.b.t.Helper()
	before, _ := w.b.state(w.b.ctx)
	w.run(id, n)
	after := w.idleAfter(fmt.Sprintf("%s block %d to finish", id, n), 5*time.Minute, before.screen())
	errs := func(screen string) int {
		return strings.Count(screen, "Error response from daemon") + strings.Count(screen, "command not found")
	}
	switch {
	case allowed != "" && !strings.Contains(after, allowed):
		w.b.t.Fatalf("%s block %d: the screen does not show %q, as the guide says it will:\n%s", id, n, allowed, after)
	case allowed == "" && errs(after) > errs(before.screen()):
		w.b.t.Fatalf("%s block %d: a command failed:\n%s", id, n, after)
	}
}

// idle waits until the shell prompt is back and the screen keeps still.
func (w courseWalker) idle(what string, timeout time.Duration) {
	w.b.t.Helper()
	w.idleAfter(what, timeout, "")
}

// idleAfter is idle, once the screen differs from before; it returns the
// screen.
func (w courseWalker) idleAfter(what string, timeout time.Duration, before string) string {
	w.b.t.Helper()
	var last string
	var since time.Time
	s := w.b.waitFor(what, timeout, func(s pageState) bool {
		screen := s.screen()
		if screen == before || !prompt.MatchString(lastLine(s)) {
			last = ""
			return false
		}
		if screen != last {
			last, since = screen, time.Now()
			return false
		}
		return time.Since(since) > time.Second
	})
	return s.screen()
}

// prune types docker container prune and answers its question.
func (w courseWalker) prune() {
	w.b.t.Helper()
	w.b.typeIntoTerminal("docker container prune")
	w.waitScreen("prune's question", 30*time.Second, func(s pageState) bool { return strings.HasSuffix(lastLine(s), "[y/N]") })
	w.b.typeIntoTerminal("y")
	w.idle("the shell after prune", 60*time.Second)
}

// newToken creates an access token on the account page, in a tab of its
// own as the guide suggests, and returns it as the page shows it once.
func (w courseWalker) newToken(platformURL, name string) string {
	w.b.t.Helper()
	tab, closeTab := chromedp.NewContext(w.b.ctx)
	defer closeTab()
	if err := chromedp.Do(tab); err != nil {
		w.b.t.Fatalf("open a tab: %v", err)
	}
	p := &e2eBrowser{t: w.b.t, ctx: tab, out: w.b.out}
	p.do("open the access tokens page", chromedp.Navigate(platformURL+"/account/tokens"))
	evalWait(p, "the token form", 15*time.Second, `document.querySelector('form[action="/account/tokens"] input[name=name]') !== null`)
	p.do("create a token",
		chromedp.SendKeys(chromedp.CSS(`form[action="/account/tokens"] input[name=name]`), name),
		chromedp.Click(chromedp.CSS(`form[action="/account/tokens"] button[type=submit]`)),
	)
	evalWait(p, "the new token", 15*time.Second, `document.querySelector('.token-secret') !== null`)
	token := strings.TrimSpace(e2eRun(p, "read the token", chromedp.Text(chromedp.CSS(`.token-secret`))))
	if len(token) < 20 {
		w.b.t.Fatalf("the new token is %q: too short", token)
	}
	return token
}
