package docker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"handson/internal/preflight"
	"handson/internal/sandbox"
)

// Devices are what every sandbox is given; the student's rootless dockerd
// opens both (labs/images/README.md).
var Devices = []string{"/dev/net/tun", "/dev/fuse"}

// HostCheck says which Docker host to check and against what.
type HostCheck struct {
	Spec   sandbox.Spec // the sandboxes' image and memory limit
	Images []string     // every image the labs need besides Spec's
	Dirs   []string     // more directories whose free disk matters (the data dir)
}

// Probes are the preflight checks of a Docker host, in order: the daemon
// answers (nothing else can be checked without it), user namespaces are
// remapped, the devices are usable, the seccomp profile is accepted, the
// images are built, and disk and memory suffice. The devices, disk and
// memory are read on this machine when the daemon runs here.
func (h HostCheck) Probes() []preflight.Probe {
	var cli *client.Client
	var info client.SystemInfoResult
	local := isLocal()
	return []preflight.Probe{
		{ID: "docker", Run: func(ctx context.Context) preflight.Check {
			c := preflight.Check{Status: preflight.Fail, Blocker: true, Key: "preflight.docker.fail", Fix: "preflight.docker.fix"}
			var err error
			if cli, err = client.New(client.FromEnv); err != nil {
				c.Args, c.Detail = []any{daemonHost()}, err.Error()
				return c
			}
			context.AfterFunc(ctx, func() { cli.Close() })
			if _, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err == nil {
				info, err = cli.Info(ctx, client.InfoOptions{})
			}
			if err != nil {
				c.Args, c.Detail = []any{daemonHost()}, err.Error()
				return c
			}
			c.Status, c.Key, c.Args, c.Fix = preflight.OK, "preflight.docker.ok", []any{info.Info.ServerVersion, daemonHost()}, ""
			return c
		}},
		{ID: "userns", Run: func(ctx context.Context) preflight.Check {
			for _, opt := range info.Info.SecurityOptions {
				if strings.Contains(opt, "name=userns") {
					return preflight.Check{Status: preflight.OK, Key: "preflight.userns.ok"}
				}
			}
			return preflight.Check{Status: preflight.Fail, Key: "preflight.userns.fail", Fix: "preflight.userns.fix",
				Detail: "docker info: security options " + strings.Join(info.Info.SecurityOptions, ", ")}
		}},
		{ID: "devices", Run: func(ctx context.Context) preflight.Check {
			if !local {
				return preflight.Check{Status: preflight.Skip, Key: "preflight.devices.remote"}
			}
			return checkDevices(Devices)
		}},
		{ID: "seccomp", Run: func(ctx context.Context) preflight.Check {
			return checkSeccomp(ctx, cli, h.Spec.Image)
		}},
		{ID: "images", Run: func(ctx context.Context) preflight.Check {
			return checkImages(ctx, cli, append([]string{h.Spec.Image}, h.Images...))
		}},
		{ID: "disk", Run: func(ctx context.Context) preflight.Check {
			dirs := h.Dirs
			if local {
				dirs = append([]string{info.Info.DockerRootDir}, dirs...)
			}
			return preflight.Disk(dirs)
		}},
		{ID: "memory", Run: func(ctx context.Context) preflight.Check {
			if !local {
				return preflight.Check{Status: preflight.Skip, Key: "preflight.devices.remote"}
			}
			return preflight.Memory(h.Spec.Limits.MemoryBytes)
		}},
	}
}

// isLocal reports whether the daemon runs on this machine (a unix socket).
func isLocal() bool {
	return strings.HasPrefix(daemonHost(), "unix://")
}

func daemonHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// checkDevices wants every device a character device that everybody may
// read and write: root in a sandbox is an unprivileged host user.
func checkDevices(paths []string) preflight.Check {
	for _, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
			c := preflight.Check{Status: preflight.Fail, Key: "preflight.devices.missing", Args: []any{p}, Fix: "preflight.devices.fix"}
			if err != nil {
				c.Detail = err.Error()
			}
			return c
		}
		if mode := os.FileMode(st.Mode & 0o777); mode&0o006 != 0o006 {
			return preflight.Check{Status: preflight.Fail, Key: "preflight.devices.fail", Args: []any{p, fmt.Sprintf("%04o", uint32(mode))},
				Fix: "preflight.devices.fix"}
		}
	}
	return preflight.Check{Status: preflight.OK, Key: "preflight.devices.ok", Args: []any{strings.Join(paths, ", ")}}
}

// checkSeccomp starts and removes a throwaway container with the
// sandboxes' security options: the kernel and the daemon accept the
// profile, or the daemon says why not.
func checkSeccomp(ctx context.Context, cli *client.Client, image string) preflight.Check {
	c := preflight.Check{Status: preflight.Fail, Key: "preflight.seccomp.fail", Fix: "preflight.seccomp.fix"}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Entrypoint: []string{"true"}, Cmd: []string{}, Labels: map[string]string{LabelManaged: "true"}},
		HostConfig: &container.HostConfig{NetworkMode: "none", SecurityOpt: securityOpt},
	})
	if cerrdefs.IsNotFound(err) {
		return preflight.Check{Status: preflight.Skip, Key: "preflight.images.fail", Args: []any{image}}
	}
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true})
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		c.Detail = err.Error()
		return c
	}
	wait := cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			c.Detail = fmt.Sprintf("the test container exited with status %d", res.StatusCode)
			return c
		}
	case err := <-wait.Error:
		c.Detail = err.Error()
		return c
	}
	return preflight.Check{Status: preflight.OK, Key: "preflight.seccomp.ok"}
}

func checkImages(ctx context.Context, cli *client.Client, images []string) preflight.Check {
	var have, missing []string
	seen := map[string]bool{}
	for _, img := range images {
		if img == "" || seen[img] {
			continue
		}
		seen[img] = true
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			if !cerrdefs.IsNotFound(err) {
				return preflight.Check{Status: preflight.Fail, Key: "preflight.images.fail", Args: []any{img}, Fix: "preflight.images.fix", Detail: err.Error()}
			}
			missing = append(missing, img)
			continue
		}
		have = append(have, img)
	}
	if len(missing) > 0 {
		return preflight.Check{Status: preflight.Fail, Key: "preflight.images.fail", Args: []any{strings.Join(missing, ", ")}, Fix: "preflight.images.fix"}
	}
	return preflight.Check{Status: preflight.OK, Key: "preflight.images.ok", Args: []any{strings.Join(have, ", ")}}
}
