package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Where the handson/registry image (labs/images/registry) keeps things.
const (
	configDir   = "/etc/docker/registry"
	dataDir     = "/var/lib/docker-registry"
	innerPort   = "5000/tcp"
	labelOwner  = "handson.registry"        // the installation that runs it
	labelConfig = "handson.registry.config" // hash of what it was made from
)

// containerSpec is one registry container: its name, image, storage
// volume and the files written into /etc/docker/registry.
type containerSpec struct {
	Name     string
	Image    string
	Volume   string
	Instance string
	Files    map[string][]byte // file name in configDir → content
}

// container runs one registry container on the host's Docker and keeps it
// running: it adopts one left from an earlier run if it was made from the
// same configuration and image, starts it again if it stops, and makes it
// again if it is gone. Its port is published on 127.0.0.1 only, on a port
// Docker picks.
type supervised struct {
	cli  *client.Client
	spec containerSpec
	log  *slog.Logger

	mu   sync.Mutex
	addr string // 127.0.0.1:port while it runs
}

// hash identifies what the container is made from: a change of the
// configuration or a rebuilt image makes a new container.
func (c *supervised) hash(imageID string) string {
	h := sha256.New()
	h.Write([]byte(imageID + "\x00" + c.spec.Volume + "\x00"))
	for _, name := range sortedKeys(c.spec.Files) {
		h.Write([]byte(name + "\x00"))
		h.Write(c.spec.Files[name])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ensure makes the container run and learns its address. It is called at
// start and by the watch loop.
func (c *supervised) ensure(ctx context.Context) (string, error) {
	img, err := c.cli.ImageInspect(ctx, c.spec.Image)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("image %s is missing: build it with scripts/build-images.sh (or run without a registry: -registry-addr \"\")", c.spec.Image)
		}
		return "", fmt.Errorf("inspect image %s: %w", c.spec.Image, err)
	}
	want := c.hash(img.ID)
	info, err := c.cli.ContainerInspect(ctx, c.spec.Name, client.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		if err := c.create(ctx, want); err != nil {
			return "", err
		}
	case err != nil:
		return "", fmt.Errorf("inspect %s: %w", c.spec.Name, err)
	case info.Container.Config == nil || info.Container.Config.Labels[labelConfig] != want:
		c.log.Info("registry container made from another configuration or image; making it again", "container", c.spec.Name)
		if err := c.remove(ctx); err != nil {
			return "", err
		}
		if err := c.create(ctx, want); err != nil {
			return "", err
		}
	case info.Container.State != nil && info.Container.State.Running:
		return c.learnAddr(ctx)
	default:
		st := info.Container.State
		if st != nil && st.FinishedAt != "" && !strings.HasPrefix(st.FinishedAt, "0001-") {
			c.log.Warn("registry container had stopped; starting it again", "container", c.spec.Name,
				"exit_code", st.ExitCode, "oom_killed", st.OOMKilled, "error", st.Error)
		}
	}
	if _, err := c.cli.ContainerStart(ctx, c.spec.Name, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("start %s: %w", c.spec.Name, err)
	}
	return c.learnAddr(ctx)
}

func (c *supervised) create(ctx context.Context, hash string) error {
	port := network.MustParsePort(innerPort)
	// No handson.instance label: that marks sandboxes (the image's
	// handson.managed=true alone does not).
	labels := map[string]string{labelOwner: c.spec.Instance, labelConfig: hash}
	pids := int64(200)
	_, err := c.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: c.spec.Name,
		Config: &container.Config{
			Image:        c.spec.Image,
			Labels:       labels,
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			// Only the platform talks to it; sandboxes go through the
			// platform's own listener, which also serves the tokens.
			PortBindings:  network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}},
			Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: c.spec.Volume, Target: dataDir}},
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
			SecurityOpt:   []string{"no-new-privileges"},
			CapDrop:       []string{"ALL"},
			LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
				"max-size": "10m", "max-file": "2",
			}},
			Resources: container.Resources{Memory: 1 << 30, PidsLimit: &pids},
		},
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", c.spec.Name, err)
	}
	// The configuration goes in by copy, not by bind mount: no host path
	// has to be readable by the container's (remapped) user, and a
	// DOCKER_HOST elsewhere works too.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(c.spec.Files) {
		body := c.spec.Files[name]
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()})
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := c.cli.CopyToContainer(ctx, c.spec.Name, client.CopyToContainerOptions{DestinationPath: configDir, Content: &buf}); err != nil {
		c.remove(context.WithoutCancel(ctx))
		return fmt.Errorf("copy the configuration into %s: %w", c.spec.Name, err)
	}
	c.log.Info("registry container created", "container", c.spec.Name, "image", c.spec.Image, "volume", c.spec.Volume)
	return nil
}

// learnAddr reads the published port; Docker picks a new one whenever the
// container starts.
func (c *supervised) learnAddr(ctx context.Context) (string, error) {
	port := network.MustParsePort(innerPort)
	for range 50 {
		info, err := c.cli.ContainerInspect(ctx, c.spec.Name, client.ContainerInspectOptions{})
		if err != nil {
			return "", fmt.Errorf("inspect %s: %w", c.spec.Name, err)
		}
		if ns := info.Container.NetworkSettings; ns != nil {
			for _, b := range ns.Ports[port] {
				if b.HostPort != "" && b.HostPort != "0" {
					addr := "127.0.0.1:" + b.HostPort
					c.mu.Lock()
					c.addr = addr
					c.mu.Unlock()
					return addr, nil
				}
			}
		}
		if st := info.Container.State; st != nil && !st.Running && !st.Restarting {
			return "", fmt.Errorf("%s stopped at once (exit code %d); its log: docker logs %s", c.spec.Name, st.ExitCode, c.spec.Name)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("%s publishes no port", c.spec.Name)
}

// current is the address of the running container, "" if unknown.
func (c *supervised) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

func (c *supervised) forget() {
	c.mu.Lock()
	c.addr = ""
	c.mu.Unlock()
}

// remove deletes the container (its data stays in the volume).
func (c *supervised) remove(ctx context.Context) error {
	c.forget()
	_, err := c.cli.ContainerRemove(ctx, c.spec.Name, client.ContainerRemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", c.spec.Name, err)
	}
	return nil
}

// logs returns the end of the container's log, to say why it failed.
func (c *supervised) logs(ctx context.Context) string {
	rc, err := c.cli.ContainerLogs(ctx, c.spec.Name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "3"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 64<<10))
	return strings.TrimSpace(buf.String())
}

// waitAnswer waits until a just started registry answers at addr.
func waitAnswer(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := ping(ctx, addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var errNotRunning = errors.New("the registry container is not running")
