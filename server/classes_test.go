package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/terminal"
)

// classEnv adds a teacher with a class of alice, and an outsider teacher.
func classEnv(t *testing.T) (*env, *store.Class) {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"teacher", "outsider"} {
		hash := testHash(name + "-password")
		if err := e.db.CreateUser(ctx, &store.User{Username: name, PasswordHash: hash, Role: store.RoleInstructor}); err != nil {
			t.Fatal(err)
		}
	}
	teacher, _ := e.db.UserByUsername(ctx, "teacher")
	c, err := e.db.CreateClass(ctx, "Docker", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := e.db.UserByUsername(ctx, "alice")
	e.db.Join(ctx, c.ID, alice.ID, store.RoleStudent)
	return e, c
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestRegisterWithJoinCode(t *testing.T) {
	e, class := classEnv(t)
	c := client()
	res, body := postForm(t, c, e.url+"/register", url.Values{"code": {"WRONG-CODE"}, "username": {"carol"}, "password": {"carol-password"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "join code is not valid") {
		t.Fatalf("wrong code: %d", res.StatusCode)
	}
	if _, err := e.db.UserByUsername(context.Background(), "carol"); err == nil {
		t.Fatal("an account was made with a wrong code")
	}
	code := strings.ToLower(strings.ReplaceAll(class.JoinCode, "-", ""))
	res, _ = postForm(t, c, e.url+"/register", url.Values{"code": {code}, "username": {"carol"}, "display_name": {"Carol"}, "password": {"carol-password"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/labs" {
		t.Fatalf("register: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := get(t, c, e.url+"/labs"); res.StatusCode != 200 {
		t.Errorf("new student not logged in: %d", res.StatusCode)
	}
	members, _ := e.db.Members(context.Background(), class.ID)
	if len(members) != 3 {
		t.Errorf("members = %d, want teacher, alice and carol", len(members))
	}
	for _, bad := range []url.Values{
		{"code": {class.JoinCode}, "username": {"carol"}, "password": {"carol-password"}}, // taken
		{"code": {class.JoinCode}, "username": {"x"}, "password": {"long-enough"}},        // too short
		{"code": {class.JoinCode}, "username": {"dave"}, "password": {"short"}},           // weak password
		{"code": {class.JoinCode}, "username": {"<script>"}, "password": {"long-enough"}},
	} {
		if res, _ := postForm(t, client(), e.url+"/register", bad); res.StatusCode != http.StatusBadRequest {
			t.Errorf("register %v: %d, want 400", bad, res.StatusCode)
		}
	}
}

// The username rule is one pattern, for the server and the browser.
func TestValidUsername(t *testing.T) {
	for name, want := range map[string]bool{
		"abc": true, "a.b_c-d": true, "-ab": true, "20s1001": true, "ABC": true,
		strings.Repeat("a", 32): true, strings.Repeat("a", 33): false,
		"ab": false, "": false, "a b": false, "abc\n": false, "\nabc": false,
		"<script>": false, "yamada太郎": false, "a/b": false, "a\\-b": false,
	} {
		if got := validUsername(name); got != want {
			t.Errorf("validUsername(%q) = %t, want %t", name, got, want)
		}
	}
}

// Every denial is tried: students see no class pages, instructors only
// their classes.
func TestClassPermissions(t *testing.T) {
	e, class := classEnv(t)
	id := func(name string) string {
		u, _ := e.db.UserByUsername(context.Background(), name)
		return itoa(u.ID)
	}
	base := e.url + "/classes/" + itoa(class.ID)
	routes := []struct{ method, path string }{
		{"GET", base},
		{"GET", base + "/grades.csv"},
		{"GET", base + "/members/" + id("alice")},
		{"GET", base + "/labs/demo"},
		{"POST", base + "/roster"},
		{"POST", base + "/members/" + id("alice") + "/password"},
		{"POST", base + "/members/" + id("alice") + "/labs/demo/reset"},
	}
	for _, who := range []string{"alice", "outsider"} {
		c := e.login(t, who)
		for _, rt := range routes {
			req, _ := http.NewRequest(rt.method, rt.path, strings.NewReader("roster=x1234,Eve"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, who, res.StatusCode)
			}
		}
	}
	if res, _ := get(t, e.login(t, "alice"), e.url+"/classes"); res.StatusCode != http.StatusForbidden {
		t.Errorf("student on /classes: %d, want 403", res.StatusCode)
	}
	// The class's teacher may not touch a user outside the class.
	c := e.login(t, "teacher")
	if res, _ := postForm(t, c, base+"/members/"+id("bob")+"/password", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("password reset of a non-member: %d, want 404", res.StatusCode)
	}
	if res, _ := get(t, c, base); res.StatusCode != 200 {
		t.Errorf("teacher's class page: %d", res.StatusCode)
	}
}

func TestRosterPasswordAndGrades(t *testing.T) {
	e, class := classEnv(t)
	c := e.login(t, "teacher")
	base := e.url + "/classes/" + itoa(class.ID)
	res, body := postForm(t, c, base+"/roster", url.Values{"roster": {"\ufeffid,name,email\n20s1001,山田 太郎,taro@example.ac.jp\nalice,Alice,\n"}})
	if res.StatusCode != 200 || !strings.Contains(body, "1 new accounts, 1 existing") {
		t.Fatalf("roster: %d\n%s", res.StatusCode, body)
	}
	m := regexp.MustCompile(`<td>20s1001</td><td>山田 太郎</td><td><code>([a-z0-9]+)</code>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("new account's password not shown:\n%s", body)
	}
	taro := client()
	if res, _ := postForm(t, taro, e.url+"/login", url.Values{"username": {"20s1001"}, "password": {m[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in with the roster password: %d", res.StatusCode)
	}
	if res, _ := postForm(t, c, base+"/roster", url.Values{"roster": {"bad id!,x"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad roster: %d, want 400", res.StatusCode)
	}

	// A password reset ends the student's session and shows the new one.
	taroUser, _ := e.db.UserByUsername(context.Background(), "20s1001")
	res, body = postForm(t, c, base+"/members/"+itoa(taroUser.ID)+"/password", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "New password for 20s1001") {
		t.Fatalf("reset: %d", res.StatusCode)
	}
	if res, _ := get(t, taro, e.url+"/labs"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("old session still works after a reset: %d", res.StatusCode)
	}

	// Grades: alice passed the demo's one step.
	alice, _ := e.db.UserByUsername(context.Background(), "alice")
	e.db.AddAttempt(context.Background(), &store.Attempt{UserID: alice.ID, LabID: "demo", StepID: "touch", Passed: true})
	res, body = get(t, c, base+"/grades.csv")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("grades: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("grades CSV: %v\n%s", err, body)
	}
	want := map[string][]string{"alice": {"1", "1", "1", "1.000"}, "20s1001": {"0", "0", "1", "0.000"}}
	for _, row := range rows[1:] {
		if w, ok := want[row[0]]; !ok || strings.Join(row[3:7], ",") != strings.Join(w, ",") {
			t.Errorf("row %v, want %v (header %v)", row, w, rows[0])
		}
	}
	if rows[1][7] == "" && rows[2][7] == "" {
		t.Error("no completion time for alice")
	}
}

// A cell of the grades CSV that a student wrote and that a spreadsheet
// would run as a formula starts with a ' (OWASP "CSV Injection"); other
// text and the platform's numbers are as they are.
func TestGradesNeutraliseFormulas(t *testing.T) {
	e, class := classEnv(t)
	ctx := context.Background()
	tests := []struct {
		name                  string
		username, shown, mail string   // as the student wrote them
		want                  []string // username, name, email cells
	}{
		{"plain", "carol", "Carol Smith", "carol@example.ac.jp", []string{"carol", "Carol Smith", "carol@example.ac.jp"}},
		{"japanese", "20s1002", "山田 花子", "", []string{"20s1002", "山田 花子", ""}},
		{"inner signs", "dave.x", "Dave = Bob + 1 - 2 @home", "d+tag@example.org", []string{"dave.x", "Dave = Bob + 1 - 2 @home", "d+tag@example.org"}},
		{"hyperlink", "eve", `=HYPERLINK("http://evil.example","x")`, "", []string{"eve", `'=HYPERLINK("http://evil.example","x")`, ""}},
		{"plus", "frank", "+1+1", "+cmd@example.org", []string{"frank", "'+1+1", "'+cmd@example.org"}},
		{"minus", "-grace", "-2+3", "", []string{"'-grace", "'-2+3", ""}},
		{"at", "heidi", "@SUM(1+1)", "@example.org", []string{"heidi", "'@SUM(1+1)", "'@example.org"}},
		{"tab", "ivan", "\t=1+1", "", []string{"ivan", "'\t=1+1", ""}},
		{"carriage return", "judy", "\r=1+1", "", []string{"judy", "'\r=1+1", ""}},
	}
	for _, tc := range tests {
		u := &store.User{Username: tc.username, DisplayName: tc.shown, Email: tc.mail, PasswordHash: "x"}
		if err := e.db.CreateUser(ctx, u); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := e.db.Join(ctx, class.ID, u.ID, store.RoleStudent); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	res, body := get(t, e.login(t, "teacher"), e.url+"/classes/"+itoa(class.ID)+"/grades.csv")
	if res.StatusCode != 200 {
		t.Fatalf("grades: %d", res.StatusCode)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("grades CSV: %v\n%s", err, body)
	}
	if got, want := strings.Join(rows[0], ","), "username,name,email,demo,points,max_points,score,last_passed_at"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	byUser := map[string][]string{}
	for _, row := range rows[1:] {
		byUser[row[0]] = row
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row, ok := byUser[tc.want[0]]
			if !ok {
				t.Fatalf("no row with username cell %q in\n%s", tc.want[0], body)
			}
			if got := row[:3]; !slices.Equal(got, tc.want) {
				t.Errorf("cells %q, want %q", got, tc.want)
			}
			// The platform's numbers: no step passed of the demo's one.
			if got, want := row[3:7], []string{"0", "0", "1", "0.000"}; !slices.Equal(got, want) {
				t.Errorf("numbers %q, want %q", got, want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The dashboard hears a student's check as it is recorded.
func TestClassEventsLive(t *testing.T) {
	e, class := classEnv(t)
	c := e.login(t, "teacher")
	req, _ := http.NewRequest("GET", e.url+"/classes/"+itoa(class.ID)+"/events", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	<-lines // ": connected"
	e.fake.Answer = func(sandbox.Command) (*sandbox.Result, error) {
		return &sandbox.Result{ExitCode: 1, Output: []byte("no file\n")}, nil
	}
	post(t, e.login(t, "alice"), e.url+"/api/labs/demo/steps/touch/check", nil)
	post(t, e.login(t, "bob"), e.url+"/api/labs/demo/steps/touch/check", nil) // not in the class
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line := <-lines:
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			var ev attemptEvent
			json.Unmarshal([]byte(data), &ev)
			alice, _ := e.db.UserByUsername(context.Background(), "alice")
			if ev.User != alice.ID || ev.Status != "failed" || ev.Attempts != 1 || ev.Message != "no file" || ev.Step != "touch" {
				t.Fatalf("event %+v, want alice's failed check", ev)
			}
			return
		case <-timeout:
			t.Fatal("no event on the dashboard")
		}
	}
}

func TestLabStats(t *testing.T) {
	e, class := classEnv(t)
	alice, _ := e.db.UserByUsername(context.Background(), "alice")
	for _, passed := range []bool{false, false, true} {
		msg := "no file"
		if passed {
			msg = ""
		}
		e.db.AddAttempt(context.Background(), &store.Attempt{UserID: alice.ID, LabID: "demo", StepID: "touch", Passed: passed, Message: msg})
	}
	base := e.url + "/classes/" + itoa(class.ID) + "/labs/"
	res, body := get(t, e.login(t, "teacher"), base+"demo")
	if res.StatusCode != 200 {
		t.Fatalf("stats: %d", res.StatusCode)
	}
	for _, want := range []string{"<strong>1 / 1</strong>", `<svg class="chart"`, "<td>touch</td><td>no file</td><td>2</td>", "chart-line"} {
		if !strings.Contains(body, want) {
			t.Errorf("stats page lacks %q", want)
		}
	}
	if res, _ := get(t, e.login(t, "teacher"), base+"nope"); res.StatusCode != 404 {
		t.Errorf("unknown lab: %d", res.StatusCode)
	}
	if res, _ := get(t, e.login(t, "alice"), base+"demo"); res.StatusCode != 403 {
		t.Errorf("student on stats: %d", res.StatusCode)
	}
}

func TestStudentEvidence(t *testing.T) {
	e, class := classEnv(t)
	alice, _ := e.db.UserByUsername(context.Background(), "alice")
	e.db.AddAttempt(context.Background(), &store.Attempt{UserID: alice.ID, LabID: "demo", StepID: "touch", ExitCode: 1, Message: "no file", Output: "ls: /tmp/x: No such file\nno file\n"})
	c := e.login(t, "teacher")
	base := e.url + "/classes/" + itoa(class.ID) + "/members/"
	res, body := get(t, c, base+itoa(alice.ID))
	if res.StatusCode != 200 || !strings.Contains(body, "ls: /tmp/x: No such file") || !strings.Contains(body, "demo/touch") {
		t.Fatalf("student page: %d, evidence missing", res.StatusCode)
	}
	bob, _ := e.db.UserByUsername(context.Background(), "bob")
	if res, _ := get(t, c, base+itoa(bob.ID)); res.StatusCode != 404 {
		t.Errorf("a student outside the class: %d, want 404", res.StatusCode)
	}
	res, _ = postForm(t, c, base+itoa(alice.ID)+"/labs/demo/reset", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", res.StatusCode)
	}
	if _, _, _, removed := e.fake.Calls(); len(removed) != 1 || removed[0].UserID != alice.ID {
		t.Errorf("removed %v, want alice's demo sandbox", removed)
	}
}

func TestWatchPage(t *testing.T) {
	e, class := classEnv(t)
	alice, _ := e.db.UserByUsername(context.Background(), "alice")
	path := "/classes/" + itoa(class.ID) + "/members/" + itoa(alice.ID) + "/labs/demo/terminal"
	res, body := get(t, e.login(t, "teacher"), e.url+path)
	if res.StatusCode != 200 || !strings.Contains(body, `data-view-user="`+itoa(alice.ID)+`"`) {
		t.Fatalf("watch page: %d", res.StatusCode)
	}
	for _, who := range []string{"alice", "outsider"} {
		if res, _ := get(t, e.login(t, who), e.url+path); res.StatusCode != 403 {
			t.Errorf("%s on the watch page: %d, want 403", who, res.StatusCode)
		}
	}
}

func TestClassLabCatalog(t *testing.T) {
	e, class := classEnv(t)
	teacher := e.login(t, "teacher")
	base := e.url + "/classes/" + itoa(class.ID)
	if _, body := get(t, e.login(t, "alice"), e.url+"/labs"); !strings.Contains(body, `href="/labs/demo"`) {
		t.Fatal("a class that chose no labs should show every lab")
	}
	if res, _ := postForm(t, teacher, base+"/labs", url.Values{"lab": {"nope"}}); res.StatusCode != 400 {
		t.Errorf("unknown lab: %d", res.StatusCode)
	}
	if res, _ := postForm(t, teacher, base+"/labs", url.Values{"lab": {"demo"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("choose labs: %d", res.StatusCode)
	}
	if labs, _ := e.db.ClassLabs(context.Background(), class.ID); len(labs) != 1 || labs[0] != "demo" {
		t.Errorf("class labs = %v", labs)
	}
	if _, body := get(t, e.login(t, "alice"), e.url+"/labs"); !strings.Contains(body, `href="/labs/demo"`) {
		t.Error("the chosen lab is not in alice's catalog")
	}
	// A class on another lab only: demo leaves alice's catalog.
	e.db.SetClassLabs(context.Background(), class.ID, []string{"another-lab"})
	if _, body := get(t, e.login(t, "alice"), e.url+"/labs"); strings.Contains(body, `href="/labs/demo"`) {
		t.Error("a lab her class does not work on is in alice's catalog")
	}
	if res, _ := postForm(t, e.login(t, "alice"), base+"/labs", url.Values{"lab": {"demo"}}); res.StatusCode != 403 {
		t.Errorf("a student choosing labs: %d, want 403", res.StatusCode)
	}
}

// A class that asks for recordings gets its students' terminals recorded;
// each check names the recordings running, and only the student's
// instructors can fetch them.
func TestRecordingsPerClassAndAttempt(t *testing.T) {
	e, class := classEnv(t)
	e.srv.Terminals = terminal.NewSessions(terminal.Config{RecordDir: t.TempDir(), Log: e.srv.Log})
	teacher := e.login(t, "teacher")
	base := e.url + "/classes/" + itoa(class.ID)
	if res, _ := postForm(t, teacher, base+"/record", url.Values{"record": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("turn recording on: %d", res.StatusCode)
	}
	for _, who := range []string{"alice", "bob"} { // bob is in no class
		c := e.login(t, who)
		tc := openTerminal(t, e, c, "", terminal.HelloRequest{})
		tc.Send("echo rec$((40+2))\n")
		if _, err := tc.ReadUntil("rec42", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		post(t, c, e.url+"/api/labs/demo/steps/touch/check", nil)
	}
	alice, _ := e.db.UserByUsername(context.Background(), "alice")
	bob, _ := e.db.UserByUsername(context.Background(), "bob")
	as, _ := e.db.UserAttempts(context.Background(), alice.ID, 10)
	bs, _ := e.db.UserAttempts(context.Background(), bob.ID, 10)
	if len(as) != 1 || len(as[0].Recordings) != 1 || len(bs) != 1 || len(bs[0].Recordings) != 0 {
		t.Fatalf("recordings: alice %+v, bob %+v; want alice's only", as, bs)
	}
	_, page := get(t, teacher, base+"/members/"+itoa(alice.ID))
	link := base + "/members/" + itoa(alice.ID) + "/recordings/" + as[0].Recordings[0]
	if !strings.Contains(page, strings.TrimPrefix(link, e.url)) {
		t.Fatalf("the student page does not link %s", link)
	}
	e.srv.Terminals.Close() // flushes the recording
	res, body := get(t, teacher, link)
	if res.StatusCode != 200 || !strings.Contains(body, `"version":2`) || !strings.Contains(body, "rec42") {
		t.Fatalf("recording: %d\n%.300s", res.StatusCode, body)
	}
	if res, _ := get(t, e.login(t, "outsider"), link); res.StatusCode != 403 {
		t.Errorf("an outsider fetching a recording: %d, want 403", res.StatusCode)
	}
	for _, bad := range []string{"../x.cast", "u999_demo/x.cast", "u" + itoa(alice.ID) + "_demo/../../etc/passwd"} {
		// 404, or the mux's redirect to the cleaned path: never the file.
		if res, _ := get(t, teacher, base+"/members/"+itoa(alice.ID)+"/recordings/"+bad); res.StatusCode != 404 && res.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("recording %q: %d, want 404 or a redirect", bad, res.StatusCode)
		}
	}
}
