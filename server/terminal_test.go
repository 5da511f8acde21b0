package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"handson/internal/store"
	"handson/internal/terminal"
)

func dialTerminalQuery(t *testing.T, e *env, c *http.Client, query string) (*terminal.Client, *http.Response, error) {
	t.Helper()
	u, _ := url.Parse(e.url)
	h := http.Header{"Origin": {e.url}}
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+"/api/labs/demo/terminal?"+query, h)
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { ws.Close() })
	return terminal.NewClient(ws), res, nil
}

// openTerminal dials and says Hello; it returns once the reply came.
func openTerminal(t *testing.T, e *env, c *http.Client, query string, req terminal.HelloRequest) *terminal.Client {
	t.Helper()
	tc, _, err := dialTerminalQuery(t, e, c, query)
	if err != nil {
		t.Fatal(err)
	}
	req.Cols, req.Rows = 80, 24
	tc.Hello(req)
	tc.Session = req.Session
	tc.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, _, err := tc.Next()
		if err != nil {
			t.Fatalf("no hello reply: %v (status %+v)", err, tc.Status)
		}
		if typ == terminal.Hello {
			return tc
		}
	}
}

func (e *env) addUser(t *testing.T, name, role string) {
	t.Helper()
	hash := testHash(name + "-password")
	if err := e.db.CreateUser(context.Background(), &store.User{Username: name, PasswordHash: hash, Role: role}); err != nil {
		t.Fatal(err)
	}
}

// The session outlives the websocket: a reload gets the same shell and its
// output again; a reset gives a new shell.
func TestTerminalSessionSurvivesReload(t *testing.T) {
	e := newEnv(t)
	c := e.login(t, "alice")
	tc := openTerminal(t, e, c, "", terminal.HelloRequest{})
	tc.Send("echo pid=$$ x$((1))\n")
	out, err := tc.ReadUntil("x1", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(out, "pid=")
	pid := out[i+4 : i+4+strings.IndexAny(out[i+4:], " ")]
	tc.WS.Close()

	again := openTerminal(t, e, c, "", terminal.HelloRequest{Session: tc.Session})
	if again.Session != tc.Session || again.Last.New {
		t.Fatalf("reload: %+v, want session %s", again.Last, tc.Session)
	}
	if _, err := again.ReadUntil("x1", 10*time.Second); err != nil {
		t.Fatalf("no replay: %v", err)
	}
	again.Send("echo same=$$\n")
	if _, err := again.ReadUntil("same="+pid, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Reset: the session ends with the sandbox's news, and the page's
	// reconnect gets a new shell.
	if res, _ := post(t, c, e.url+"/api/labs/demo/reset", nil); res.StatusCode != 200 {
		t.Fatalf("reset: %d", res.StatusCode)
	}
	_, err = again.ReadUntil("never", 10*time.Second)
	if again.Status.State != "closed" || !strings.Contains(again.Status.Message, "reset") {
		t.Errorf("after reset: %v, status %+v", err, again.Status)
	}
	fresh := openTerminal(t, e, c, "", terminal.HelloRequest{Session: tc.Session})
	if fresh.Session == tc.Session || !fresh.Last.New {
		t.Errorf("after reset: %+v, want a new session", fresh.Last)
	}
}

// Instructors watch their students' terminals read-only; students and
// instructors of other classes may not.
func TestTerminalViewer(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "carol", store.RoleInstructor)
	e.addUser(t, "dave", store.RoleInstructor)
	ctx := context.Background()
	carolU, _ := e.db.UserByUsername(ctx, "carol")
	class, _ := e.db.CreateClass(ctx, "carol's", carolU.ID)
	e.db.Join(ctx, class.ID, 1, store.RoleStudent) // alice
	e.db.Join(ctx, class.ID, 2, store.RoleStudent) // bob
	alice := e.login(t, "alice")
	st := openTerminal(t, e, alice, "", terminal.HelloRequest{})
	st.Send("echo hi$((1))\n")
	if _, err := st.ReadUntil("hi1", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Bob (a student) cannot watch alice.
	for _, q := range []string{"view=1&user=1", "user=1", "view=1"} {
		if _, res, err := dialTerminalQuery(t, e, e.login(t, "bob"), q); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("a student viewing with %s: %v, want 403", q, err)
		}
	}

	// Dave teaches, but not alice's class.
	if _, res, err := dialTerminalQuery(t, e, e.login(t, "dave"), "view=1&user=1"); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("an instructor of another class viewing: %v, want 403", err)
	}

	carol := e.login(t, "carol")
	v := openTerminal(t, e, carol, "view=1&user=1", terminal.HelloRequest{})
	if !v.Last.ReadOnly || v.Session != st.Session {
		t.Fatalf("viewer reply %+v", v.Last)
	}
	if _, err := v.ReadUntil("hi1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	v.Send("touch /tmp/viewer-was-here; echo viewer$((2))\n")
	v.Resize(33, 11)
	time.Sleep(300 * time.Millisecond)
	st.Send("echo $(stty size) student$((3))\n")
	out, err := st.ReadUntil("student3", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "viewer2") || strings.Contains(out, "11 33") {
		t.Errorf("a viewer's input or resize reached the shell: %q", out)
	}
	if _, err := v.ReadUntil("student3", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Another student of hers, with no terminal open: nothing to watch.
	none := openTerminalNoHello(t, e, carol, "view=1&user="+strconv.Itoa(2))
	none.ReadUntil("never", 5*time.Second)
	if none.Status.State != "closed" {
		t.Errorf("viewing a student without a terminal: %+v", none.Status)
	}
}

func openTerminalNoHello(t *testing.T, e *env, c *http.Client, query string) *terminal.Client {
	t.Helper()
	tc, _, err := dialTerminalQuery(t, e, c, query)
	if err != nil {
		t.Fatal(err)
	}
	tc.Hello(terminal.HelloRequest{Cols: 80, Rows: 24})
	return tc
}
