package preflight

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"handson/internal/apperr"
	"handson/internal/sandbox"
)

// CanaryKey names the canary sandbox: user 0 is nobody, so a canary left
// by a crash is an orphan the next start removes.
var CanaryKey = sandbox.Key{UserID: 0, Lab: "preflight"}

// diagnose prints what a sandbox found wrong: its init's verdict, then the
// first line of each log that is not a trace, a warning or an info message
// (labs/images/README.md has the logs).
const diagnose = `cat /run/handson/failed 2>/dev/null && exit 0
for f in /var/log/handson/init.log /var/log/handson/dockerd.log; do
  awk -v f="$f" 'NF && !/^\+ / && !/^----/ && !/level=(warning|info|debug)/ && !/ (init starting|prepared|Docker asked for|dockerd-rootless.sh started|dockerd answers|preloaded images ready)/ { print f ": " substr($0, 1, 400); exit }' "$f" 2>/dev/null
done`

// Canary starts a real sandbox with spec, waits for its own Docker, runs
// a container in it and removes it, timing each stage. With a classroom
// registry the container is hello-world pulled from it; without, the image
// every sandbox has preloaded (busybox). When a stage fails, the check
// quotes what the sandbox itself found.
func Canary(eng sandbox.Engine, spec sandbox.Spec, withRegistry bool) Probe {
	return Probe{ID: "canary", Run: func(ctx context.Context) (c Check) {
		c = Check{Status: Fail, Fix: "preflight.canary.fix"}
		stage := func(name string, start time.Time, done bool) {
			c.Stages = append(c.Stages, Stage{Name: name, Took: time.Since(start), Done: done})
		}
		// A canary left by an earlier run (killed midway) would not be fresh.
		if err := eng.Remove(ctx, CanaryKey); err != nil {
			c.Key, c.Detail = "preflight.canary.start", err.Error()
			return c
		}
		defer func() {
			start := time.Now()
			err := eng.Remove(context.WithoutCancel(ctx), CanaryKey)
			stage("remove", start, err == nil)
			if err != nil && c.Status == OK {
				c.Status, c.Key, c.Detail = Warn, "preflight.canary.start", "removing the test sandbox: "+err.Error()
			}
		}()

		start := time.Now()
		sb, err := eng.Ensure(ctx, CanaryKey, spec, nil)
		stage("start", start, err == nil)
		if err != nil {
			c.Key, c.Detail = "preflight.canary.start", apperr.Message(err)
			if apperr.Code(err) == apperr.Internal {
				c.Detail = err.Error() // the engine's own words, for the operator
			}
			if errors.As(err, new(*apperr.Error)) && strings.Contains(c.Detail, "scripts/build-images.sh") {
				c.Fix = "preflight.images.fix"
			}
			return c
		}

		start = time.Now()
		err = eng.WaitReady(ctx, sb)
		if err == nil {
			err = eng.StartDocker(ctx, sb)
		}
		stage("docker", start, err == nil)
		if err != nil {
			c.Key, c.Detail = "preflight.canary.docker", cause(ctx, eng, sb, err)
			c.Fix = fixFor(c.Detail)
			return c
		}

		start = time.Now()
		run := "docker run --rm hello-world"
		if !withRegistry {
			run = "docker run --rm busybox echo Hello from Docker!"
		}
		out, err := student(ctx, eng, sb, run)
		stage("run", start, err == nil)
		switch {
		case err == nil && withRegistry:
			c.Status, c.Key, c.Fix = OK, "preflight.canary.ok", ""
		case err == nil:
			c.Status, c.Key, c.Fix = OK, "preflight.canary.oklocal", ""
		case withRegistry:
			// Containers may run and only the pull fail: then students can
			// work, but not pull.
			if _, lerr := student(ctx, eng, sb, "docker run --rm busybox true"); lerr == nil {
				c.Status, c.Key, c.Fix = Warn, "preflight.canary.pull", "preflight.registry.fix"
				c.Detail = run + ": " + out
				return c
			}
			fallthrough
		default:
			c.Key = "preflight.canary.run"
			c.Detail = run + ": " + out
			if d := cause(ctx, eng, sb, nil); d != "" {
				c.Detail += "\n" + d
			}
			c.Fix = fixFor(c.Detail)
		}
		return c
	}}
}

// student runs a shell command as the student; err says it failed, out is
// its last output line.
func student(ctx context.Context, eng sandbox.Engine, sb *sandbox.Sandbox, cmd string) (string, error) {
	res, err := eng.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", cmd + " 2>&1"}, Timeout: 2 * time.Minute})
	if err != nil {
		return err.Error(), err
	}
	out := lastLine(res.Output)
	if res.ExitCode != 0 {
		return out, errors.New(out)
	}
	return out, nil
}

// cause says why a sandbox's Docker is not working: its own verdict (a
// *sandbox.BrokenError), else the first error of its logs, else err.
func cause(ctx context.Context, eng sandbox.Engine, sb *sandbox.Sandbox, err error) string {
	var b *sandbox.BrokenError
	if errors.As(err, &b) {
		return b.Cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	res, xerr := eng.Exec(ctx, sb, sandbox.Command{Cmd: []string{"sh", "-c", diagnose}, User: "root"})
	var found string
	if xerr == nil {
		found = string(bytes.TrimSpace(res.Output))
	}
	switch {
	case err == nil:
		return found
	case found == "":
		return err.Error()
	}
	return err.Error() + "\n" + found
}

// fixFor is the fix of a cause the sandbox found: the devices' when it
// names one.
func fixFor(detail string) string {
	if strings.Contains(detail, "/dev/net/tun") || strings.Contains(detail, "/dev/fuse") {
		return "preflight.devices.fix"
	}
	return "preflight.canary.fix"
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
