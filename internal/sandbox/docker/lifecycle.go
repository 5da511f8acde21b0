package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

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

// Probe implements sandbox.Engine with the image's readiness probe.
func (e *Engine) Probe(ctx context.Context, key sandbox.Key) error {
	name := e.Name(key)
	res, err := e.Exec(ctx, &sandbox.Sandbox{ID: name, Name: name, Key: key},
		sandbox.Command{Cmd: []string{readyCommand}, User: "root", Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: %s", readyCommand, res.Output)
	}
	return nil
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
	if st.State == sandbox.Running {
		st.Procs, st.ProcsMax = e.procs(ctx, name)
	}
	return st, nil
}

// procs reads the sandbox's process count and limit from one stats sample
// (zeros if it cannot: the count is a hint, not a verdict).
func (e *Engine) procs(ctx context.Context, name string) (cur, limit int64) {
	res, err := e.cli.ContainerStats(ctx, name, client.ContainerStatsOptions{})
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	var stats container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&stats); err != nil {
		return 0, 0
	}
	return int64(stats.PidsStats.Current), int64(stats.PidsStats.Limit)
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
// it when no sandbox is being created.
func (e *Engine) Prune(ctx context.Context) error {
	nets, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: e.owned()})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
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
