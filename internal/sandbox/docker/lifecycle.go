package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"handson/internal/preflight"
	"handson/internal/sandbox"
)

// stopTimeout is how long a stopping sandbox gets: its init stops the inner
// dockerd on SIGTERM within about a second.
const stopTimeout = 5

// Stop implements sandbox.Engine.
func (e *Engine) Stop(ctx context.Context, key sandbox.Key) error {
	name := e.Name(key)
	defer e.lock(name)()
	t := stopTimeout
	_, err := e.cli.ContainerStop(ctx, name, client.ContainerStopOptions{Timeout: &t})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// Restart implements sandbox.Engine. It kills rather than stops: a sandbox
// full of processes does not stop politely (shared/notes: restart -t 10
// took 10.8 s, kill + start 0.8 s).
func (e *Engine) Restart(ctx context.Context, key sandbox.Key) error {
	name := e.Name(key)
	defer e.lock(name)()
	if _, err := e.cli.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: "KILL"}); err != nil && !cerrdefs.IsConflict(err) {
		// Conflict: it was not running, which is fine.
		return fmt.Errorf("kill %s: %w", name, err)
	}
	// Wait for the kill to land before starting again.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect %s: %w", name, err)
		}
		if !info.Container.State.Running {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return e.WaitReady(ctx, &sandbox.Sandbox{ID: name, Name: name, Key: key})
}

// healthScript reads the sandbox's own view of its pids cgroup (v1, else
// v2) and exits 2 when 95% of the limit is used, then runs the image's
// readiness probe: the process table first, since a fork bomb also makes
// the inner Docker slow.
const healthScript = `for d in /sys/fs/cgroup/pids /sys/fs/cgroup; do
  [ -r $d/pids.max ] || continue
  read cur < $d/pids.current; read max < $d/pids.max
  [ "$max" = max ] || [ $((cur * 100)) -lt $((max * 95)) ] || { echo "$cur of $max processes"; exit 2; }
  break
done
exec ` + readyCommand

// Probe implements sandbox.Engine: one exec, about 60 ms. (A stats sample
// would say the same in about 0.9 s on Docker 20.10.) An exec that runs
// but does not finish in time, or finds the inner Docker not answering, is
// a slow sandbox (a busy host); one that cannot run at all is a sandbox
// that no longer starts programs.
func (e *Engine) Probe(ctx context.Context, key sandbox.Key) error {
	name := e.Name(key)
	probe, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := e.Exec(probe, &sandbox.Sandbox{ID: name, Name: name, Key: key},
		sandbox.Command{Cmd: []string{"sh", "-c", healthScript}, User: "root"})
	switch {
	case err != nil && probe.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("%w: the health check did not finish within 10 s", sandbox.ErrSlow)
	case err != nil:
		return e.whyNoExec(ctx, name, err)
	case res.ExitCode == readyFailed:
		return broken(res.Output)
	case res.ExitCode == 2:
		return fmt.Errorf("%w: %s", sandbox.ErrProcessesFull, bytes.TrimSpace(res.Output))
	case res.ExitCode == 1: // handson-ready: "not ready: …"
		return fmt.Errorf("%w: %s: %s", sandbox.ErrSlow, readyCommand, bytes.TrimSpace(res.Output))
	case res.ExitCode != 0: // the exec could not start (126: runc's "exec failed")
		return e.whyNoExec(ctx, name, fmt.Errorf("%s (exit %d): %s", readyCommand, res.ExitCode, bytes.TrimSpace(res.Output)))
	}
	return nil
}

// whyNoExec finds the cause of an exec that could not start: a full
// process table, as the host's Docker counts it (a fork bomb fills it
// before the script inside can read it), else err.
func (e *Engine) whyNoExec(ctx context.Context, name string, err error) error {
	res, serr := e.cli.ContainerStats(ctx, name, client.ContainerStatsOptions{})
	if serr != nil {
		return err
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if json.NewDecoder(res.Body).Decode(&st) == nil && st.PidsStats.Limit > 0 && st.PidsStats.Current*100 >= st.PidsStats.Limit*95 {
		return fmt.Errorf("%w: %d of %d processes", sandbox.ErrProcessesFull, st.PidsStats.Current, st.PidsStats.Limit)
	}
	return err
}

// Status implements sandbox.Engine.
func (e *Engine) Status(ctx context.Context, key sandbox.Key, disk bool) (*sandbox.Status, error) {
	name := e.Name(key)
	info, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{Size: disk})
	if cerrdefs.IsNotFound(err) {
		return &sandbox.Status{Key: key, Name: name, State: sandbox.Missing, DiskBytes: -1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	c := info.Container
	st := &sandbox.Status{Key: key, Name: name, State: sandbox.Stopped, DiskBytes: -1}
	if c.State != nil {
		if c.State.Running {
			st.State = sandbox.Running
		}
		st.OOMKilled = c.State.OOMKilled
	}
	st.Created, _ = time.Parse(time.RFC3339Nano, c.Created)
	if disk && c.SizeRw != nil {
		st.DiskBytes = *c.SizeRw
	}
	return st, nil
}

// Addr implements sandbox.Engine: the sandbox's address on its own bridge.
// The host reaches it there (the firewall only filters what sandboxes
// send), and so does what the student publishes with the inner docker run
// -p: rootlesskit's port driver listens in the sandbox's network namespace.
func (e *Engine) Addr(ctx context.Context, key sandbox.Key) (netip.Addr, error) {
	name := e.Name(key)
	info, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return netip.Addr{}, sandbox.ErrNotRunning
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	c := info.Container
	if c.State == nil || !c.State.Running {
		return netip.Addr{}, sandbox.ErrNotRunning
	}
	// Its one network: named like it, or like the warm sandbox it was.
	if c.NetworkSettings != nil {
		for _, ep := range c.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				return ep.IPAddress, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no address on its network", name)
}

// List implements sandbox.Engine.
func (e *Engine) List(ctx context.Context) ([]sandbox.Status, error) {
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: e.owned()})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []sandbox.Status
	for _, c := range res.Items {
		st := sandbox.Status{Name: strings.TrimPrefix(c.Names[0], "/"), State: sandbox.Stopped, DiskBytes: -1, Created: time.Unix(c.Created, 0)}
		if key, ok := e.keyFromName(c.Names[0]); ok {
			st.Key = key
		} else if lab, ok := c.Labels[LabelPool]; ok {
			st.Key, st.Warm = sandbox.Key{Lab: lab}, true
		} else {
			continue
		}
		if c.State == container.StateRunning {
			st.State = sandbox.Running
		}
		out = append(out, st)
	}
	return out, nil
}

// Prune implements sandbox.Engine: it removes this installation's networks
// that no container uses any more (a crash between the two removals). Run
// it when no sandbox is being created. A stopped or only created container
// has no endpoint on its network, yet Docker lets the network go and the
// container can never start again: such networks are kept.
func (e *Engine) Prune(ctx context.Context) error {
	nets, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: e.owned()})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	cs, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: e.owned()})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	used := map[string]bool{}
	for _, c := range cs.Items {
		used[c.HostConfig.NetworkMode] = true
	}
	for _, n := range nets.Items {
		if used[n.Name] || used[n.ID] {
			continue
		}
		info, err := e.cli.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
		if err != nil || len(info.Network.Containers) > 0 {
			continue
		}
		if _, err := e.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	return nil
}

func (e *Engine) owned() client.Filters {
	return client.Filters{}.Add("label", LabelManaged+"=true").Add("label", LabelInstance+"="+e.instance)
}

// Capacity implements sandbox.Engine: the host's available memory (the
// daemon is local) and the average working set (usage less inactive page
// cache) of this installation's running sandboxes, from their cgroups.
func (e *Engine) Capacity(ctx context.Context) (sandbox.Capacity, error) {
	avail, err := preflight.MemAvailable()
	if err != nil {
		return sandbox.Capacity{}, err
	}
	c := sandbox.Capacity{Available: avail}
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{Filters: e.owned()})
	if err != nil {
		return c, fmt.Errorf("list sandboxes: %w", err)
	}
	var sum int64
	for _, ct := range res.Items {
		if n, ok := workingSet(ct.ID); ok {
			sum += n
			c.Running++
		}
	}
	if c.Running > 0 {
		c.PerSandbox = sum / int64(c.Running)
	}
	return c, nil
}

// workingSet reads a container's memory in use, less its inactive page
// cache, from the host's cgroup files: v1 with the cgroupfs driver, else v2
// with either driver.
func workingSet(id string) (int64, bool) {
	for _, c := range []struct{ dir, usage, inactive string }{
		{"/sys/fs/cgroup/memory/docker/" + id, "memory.usage_in_bytes", "total_inactive_file"},
		{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope", "memory.current", "inactive_file"},
		{"/sys/fs/cgroup/docker/" + id, "memory.current", "inactive_file"},
	} {
		b, err := os.ReadFile(filepath.Join(c.dir, c.usage))
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(c.dir, "memory.stat"))
		for line := range strings.Lines(string(stat)) {
			if k, v, _ := strings.Cut(strings.TrimSpace(line), " "); k == c.inactive {
				inactive, _ := strconv.ParseInt(v, 10, 64)
				n -= min(n, inactive)
			}
		}
		return n, true
	}
	return 0, false
}
