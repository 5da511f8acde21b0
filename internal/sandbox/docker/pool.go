package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/client"

	"handson/internal/sandbox"
)

// LabelPool marks a warm sandbox not yet handed to a student; its value is
// the lab it was made for.
const LabelPool = "handson.pool"

// Warm implements sandbox.Engine: a sandbox for lab, started and ready,
// its Docker too, owned by nobody yet.
func (e *Engine) Warm(ctx context.Context, lab string, spec sandbox.Spec) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	name := "handson-" + e.instance + "-pool-" + lab + "-" + hex.EncodeToString(b)
	labels := map[string]string{LabelManaged: "true", LabelInstance: e.instance, LabelPool: lab}
	if err := e.create(ctx, name, lab, labels, spec); err != nil {
		return "", err
	}
	if _, err := e.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		e.removeByName(context.WithoutCancel(ctx), name)
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	sb := &sandbox.Sandbox{ID: name, Name: name}
	if err := e.WaitReady(ctx, sb); err != nil {
		e.removeByName(context.WithoutCancel(ctx), name)
		return "", err
	}
	if err := e.StartDocker(ctx, sb); err != nil {
		e.removeByName(context.WithoutCancel(ctx), name)
		return "", err
	}
	return name, nil
}

// Claim implements sandbox.Engine: the warm sandbox takes key's
// deterministic name, which is what makes it key's from now on.
func (e *Engine) Claim(ctx context.Context, warm string, key sandbox.Key) (*sandbox.Sandbox, error) {
	name := e.Name(key)
	defer e.lock(name)()
	if _, err := e.cli.ContainerRename(ctx, warm, client.ContainerRenameOptions{NewName: name}); err != nil {
		return nil, fmt.Errorf("claim %s as %s: %w", warm, name, err)
	}
	return &sandbox.Sandbox{ID: name, Name: name, Key: key}, nil
}

// Discard implements sandbox.Engine: it removes a warm sandbox.
func (e *Engine) Discard(ctx context.Context, warm string) error {
	return e.removeByName(ctx, warm)
}

// keyFromName reads the owner back from a sandbox's deterministic name; a
// claimed warm sandbox has only its name to say whose it is.
func (e *Engine) keyFromName(name string) (sandbox.Key, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(name, "/"), "handson-"+e.instance+"-u")
	if !ok {
		return sandbox.Key{}, false
	}
	id, lab, ok := strings.Cut(rest, "-")
	uid, err := strconv.ParseInt(id, 10, 64)
	return sandbox.Key{UserID: uid, Lab: lab}, ok && err == nil && lab != ""
}
