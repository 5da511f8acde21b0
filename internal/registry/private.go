package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// LabelAddress marks the networks PrivateAddr makes.
const LabelAddress = "handson.registry.address"

// PrivateAddr gives a registry an address of this host that no other
// handson uses: it makes a Docker bridge network named name, whose gateway
// is a new address of this host, and returns gateway:port. handson lab
// test and the tests use it, so that several of them, and a server, run
// at once on one host with the same port, the one the sandbox firewall
// lets through (a different port each would make them fight over the
// firewall's rules). No container joins the network; remove deletes it.
func PrivateAddr(ctx context.Context, name string, port int) (addr string, remove func(context.Context) error, err error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return "", nil, fmt.Errorf("docker client: %w", err)
	}
	h := sha256.Sum256([]byte(name))
	// One left by a killed run of the same name is used again (old
	// daemons make a second network of the same name rather than refuse).
	if _, ierr := cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); ierr == nil {
		err = nil
	} else {
		_, err = cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver: "bridge",
			Labels: map[string]string{LabelAddress: "true"},
			// Not "hs-": this is no sandbox network. Sandboxes reach its
			// gateway through the host's INPUT chain like 172.17.0.1.
			Options: map[string]string{"com.docker.network.bridge.name": "hr-" + hex.EncodeToString(h[:6])},
		})
	}
	if err != nil && !cerrdefs.IsConflict(err) {
		cli.Close()
		return "", nil, fmt.Errorf("network %s: %w", name, err)
	}
	remove = func(ctx context.Context) error {
		defer cli.Close()
		_, err := cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", name, err)
		}
		return nil
	}
	info, err := cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		remove(context.WithoutCancel(ctx))
		return "", nil, fmt.Errorf("inspect network %s: %w", name, err)
	}
	for _, c := range info.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return net.JoinHostPort(c.Gateway.String(), strconv.Itoa(port)), remove, nil
		}
	}
	remove(context.WithoutCancel(ctx))
	return "", nil, fmt.Errorf("network %s has no IPv4 gateway", name)
}
