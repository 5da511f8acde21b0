package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/gorilla/websocket"
	"github.com/moby/moby/client"

	"handson/internal/auth"
	"handson/internal/config"
	"handson/internal/platform"
	"handson/internal/registry"
	"handson/internal/sandbox"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
	"handson/internal/terminal"
)

const (
	benchLab      = "docker-basics"
	benchPassword = "bench-password-7f3a"
)

// benchPlatform is the whole platform as `handson serve` runs it, in this
// process, on a free port with a fresh data dir: a fresh instance id, so
// it only ever touches its own sandboxes.
type benchPlatform struct {
	a        *platform.Platform
	base     string // http://127.0.0.1:port
	wsURL    string
	instance string
	hash     string // of benchPassword
	log      *serverLog
	docker   *client.Client

	mu    sync.Mutex
	conns []*terminal.Client // kept open: students idling with the lab open
	users int
	ids   map[string]string // container name → id
}

// startPlatform starts a platform with maxStarts and a warm pool of
// warmPool sandboxes, and waits for its host checks (the gate every
// sandbox start waits for: the scenarios measure a running server, not its
// first seconds). r.teardown removes everything it started.
func (r *run) startPlatform(ctx context.Context, maxStarts, warmPool int) (*benchPlatform, error) {
	dir, err := os.MkdirTemp("", "handson-bench-")
	if err != nil {
		return nil, err
	}
	r.cleanups = append(r.cleanups, func() { os.RemoveAll(dir) })
	// The instance id first, so that its sandboxes can be found even if
	// the start is interrupted.
	db, err := store.Open(ctx, filepath.Join(dir, "handson.db"))
	if err != nil {
		return nil, err
	}
	instance, err := db.InstanceID(ctx)
	db.Close()
	if err != nil {
		return nil, err
	}
	r.track(instance)
	r.cleanups = append(r.cleanups, func() { r.removeInstance(instance) })
	r.logf("platform: instance %s (leftovers, should a run be killed: docker rm -f $(docker ps -aq --filter label=%s=%s))",
		instance, docker.LabelInstance, instance)
	// A registry address of its own, with the port servers use (see
	// registry.PrivateAddr): a `handson serve` on this host keeps its own.
	addr, removeAddr, err := registry.PrivateAddr(ctx, "handson-bench-"+instance, config.Default().RegistryPort())
	if err != nil {
		return nil, err
	}
	r.cleanups = append(r.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := removeAddr(ctx); err != nil {
			r.res.errorf("%v", err)
		}
	})

	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.MaxStarts = maxStarts
	cfg.WarmPool = warmPool
	cfg.RegistryAddr = addr
	logs := &serverLog{}
	a, err := platform.Start(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
	if err != nil {
		return nil, fmt.Errorf("start the platform: %w", err)
	}
	u, _ := url.Parse(a.Server.URL())
	p := &benchPlatform{a: a, base: a.Server.URL(), wsURL: "ws://" + u.Host + "/api/labs/" + benchLab + "/terminal",
		instance: instance, log: logs, docker: r.docker, ids: map[string]string{}}
	r.cleanups = append(r.cleanups, func() {
		p.closeConns()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			r.res.errorf("close the platform: %v", err)
		}
		if len(r.res.Errors) > 0 && !r.stopped.Load() {
			r.logf("server log (last 8 KiB):\n%s", logs.tail(8<<10))
		}
	})
	if p.hash, err = auth.HashPassword(benchPassword); err != nil {
		return nil, err
	}

	t0 := time.Now()
	select {
	case <-a.Host.First():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if rep := a.Host.Report(); !rep.Ready() {
		var b bytes.Buffer
		rep.Print(&b, "en")
		return nil, fmt.Errorf("the host is not ready for sandboxes (handson doctor says more):\n%s", b.String())
	}
	// Other work on the machine (other test runs on the same daemon) skews
	// every number here: record how busy it was.
	m := readMeminfo()
	line := fmt.Sprintf("started (host checks took %.1f s): load average %s, host used memory %.0f MiB, %d containers running",
		time.Since(t0).Seconds(), loadAverage(), toMiB(m.used()), running(r.docker))
	r.logf("%s", line)
	r.res.Machine = append(r.res.Machine, r.name+" "+line)
	return p, nil
}

// removeInstance removes every container and network labelled with
// instance. A warm sandbox being made (or discarded) as the platform
// closed may appear, or vanish, late: it goes over them until nothing is
// left.
func (h *harness) removeInstance(instance string) {
	var n int
	var err error
	for pass := 0; pass < 5; pass++ {
		if pass > 0 {
			time.Sleep(2 * time.Second)
		}
		var removed int
		removed, err = h.removeOnce(instance)
		n += removed
		if removed == 0 && err == nil {
			break
		}
	}
	if err != nil {
		h.logf("REMOVE BY HAND: the sandboxes of instance %s: %v", instance, err)
		h.leftovers = true
	}
	if n > 0 {
		h.logf("removed %d sandboxes of instance %s", n, instance)
	}
}

func (h *harness) removeOnce(instance string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := client.Filters{}.Add("label", docker.LabelInstance+"="+instance)
	cs, err := h.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for _, c := range cs.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := h.docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !gone(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ns, err := h.docker.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return len(cs.Items), err
	}
	for _, n := range ns.Items {
		if _, err := h.docker.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	return len(cs.Items), errors.Join(errs...)
}

// gone: the object is gone, or someone else (the platform's own discard
// of a warm sandbox) is removing it; the next pass will see.
func gone(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already in progress")
}

func (p *benchPlatform) closeConns() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		hangUp(c.WS)
	}
}

func hangUp(ws *websocket.Conn) {
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	ws.Close()
}

// keep leaves c open, reading (and so answering pings) until it closes.
func (p *benchPlatform) keep(c *terminal.Client) {
	c.WS.SetReadDeadline(time.Time{})
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	go func() {
		for {
			if _, _, err := c.Next(); err != nil {
				return
			}
		}
	}()
}

type student struct {
	id     int64
	name   string
	cookie string
}

func (u *student) key() sandbox.Key { return sandbox.Key{UserID: u.id, Lab: benchLab} }

// newStudents creates n students and logs each in (POST /login, as the
// browser does).
func (p *benchPlatform) newStudents(ctx context.Context, n int) ([]*student, error) {
	var users []*student
	for range n {
		u, err := p.newUser(ctx, store.RoleStudent)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, nil
}

// newUser creates a user with role and logs them in.
func (p *benchPlatform) newUser(ctx context.Context, role string) (*student, error) {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	p.mu.Lock()
	p.users++
	name := fmt.Sprintf("bench-%03d", p.users)
	p.mu.Unlock()
	u := &store.User{Username: name, DisplayName: name, PasswordHash: p.hash, Role: role}
	if err := p.a.DB.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/login",
		strings.NewReader(url.Values{"username": {name}, "password": {benchPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("log in %s: %w", name, err)
	}
	res.Body.Close()
	var cookie string
	for _, c := range res.Cookies() {
		if c.Value != "" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == "" {
		return nil, fmt.Errorf("log in %s: status %d, cookies %v", name, res.StatusCode, res.Cookies())
	}
	return &student{id: u.ID, name: name, cookie: cookie}, nil
}

// prepareClass makes a class of users and prepares their sandboxes of the
// bench lab as its instructor does (the class page's button), and waits
// until the preparation ends.
func (p *benchPlatform) prepareClass(ctx context.Context, users []*student, timeout time.Duration) (took time.Duration, ready, failed int, err error) {
	teacher, err := p.newUser(ctx, store.RoleInstructor)
	if err != nil {
		return 0, 0, 0, err
	}
	c, err := p.a.DB.CreateClass(ctx, "bench class", teacher.id)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, u := range users {
		if err := p.a.DB.Join(ctx, c.ID, u.id, store.RoleStudent); err != nil {
			return 0, 0, 0, err
		}
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, body url.Values) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, method, p.base+path, strings.NewReader(body.Encode()))
		req.Header.Set("Cookie", teacher.cookie)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return hc.Do(req)
	}
	t0 := time.Now()
	path := fmt.Sprintf("/classes/%d/prepare", c.ID)
	res, err := do(http.MethodPost, path, url.Values{"lab": {benchLab}})
	if err != nil {
		return 0, 0, 0, err
	}
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return 0, 0, 0, fmt.Errorf("prepare the class: status %d: %s", res.StatusCode, msg)
	}
	for time.Since(t0) < timeout {
		res, err := do(http.MethodGet, path, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		var pr struct {
			Ready, Failed int
			Done          bool
		}
		err = json.NewDecoder(res.Body).Decode(&pr)
		res.Body.Close()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("prepare status: %w", err)
		}
		if pr.Done {
			return time.Since(t0), pr.Ready, pr.Failed, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return 0, 0, 0, fmt.Errorf("the class was not prepared within %s", timeout)
}

func (p *benchPlatform) name(u *student) string { return p.a.Engine.Name(u.key()) }

// waitWarm waits until the warm pool holds n ready sandboxes of lab.
func (p *benchPlatform) waitWarm(ctx context.Context, lab string, n int, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	// A class is in the lab (as its page views and starts say): the pool
	// fills for it, and for it alone.
	p.a.Sandboxes.Want(lab, time.Now().Add(time.Hour))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		sts, err := p.a.Engine.List(ctx)
		if err != nil {
			return 0, fmt.Errorf("list sandboxes: %w", err)
		}
		var warm []string
		for _, st := range sts {
			if st.Warm && st.Key.Lab == lab && st.State == sandbox.Running {
				warm = append(warm, st.Name)
			}
		}
		ready := 0
		for _, name := range warm {
			if len(warm) >= n && p.a.Engine.WaitReady(ctx, &sandbox.Sandbox{ID: name, Name: name}) == nil {
				ready++
			}
		}
		if ready >= n {
			// The pool takes a sandbox as its own right after it is ready.
			return time.Since(t0), sleep(ctx, 500*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the warm pool has %d of %d sandboxes of %s after %s: %w", len(warm), n, lab, time.Since(t0).Round(time.Second), ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// cgroup is a sandbox's cgroup from the host's files, else from the
// daemon.
func (p *benchPlatform) cgroup(name string) (cgroupStat, error) {
	id, err := p.containerID(name)
	if err != nil {
		return cgroupStat{}, err
	}
	if c, ok := cgroupV1(id); ok {
		return c, nil
	}
	return cgroupAPI(p.docker, name)
}

func (p *benchPlatform) containerID(name string) (string, error) {
	p.mu.Lock()
	id, ok := p.ids[name]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := p.docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.ids[name] = info.Container.ID
	p.mu.Unlock()
	return info.Container.ID, nil
}

// serverLog keeps the server's log for a failure report.
type serverLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 4<<20 {
		l.buf.Next(2 << 20)
	}
	return l.buf.Write(p)
}

// lastError is the err of the server's last logged error or warning (what
// the student's "Internal error." hides).
func (l *serverLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(l.buf.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if !strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		if _, e, ok := strings.Cut(line, " err="); ok {
			if u, err := strconv.Unquote(e); err == nil {
				return u
			}
			return e
		}
		return line
	}
	return ""
}

func (l *serverLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	return string(b[max(0, len(b)-n):])
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
