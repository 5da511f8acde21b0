package docker

import (
	"encoding/json"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// securityOpt is what every sandbox container runs with (HostConfig.SecurityOpt).
//
// seccomp: Docker's default profile plus exactly what the rootless dockerd
// inside needs (sandboxProfile), passed inline as JSON, which is how the
// Engine API takes a custom profile.
//
// apparmor=unconfined: the hosts measured so far have no AppArmor (no
// /sys/module/apparmor), so this changes nothing there. On a host with
// AppArmor, Docker's docker-default profile denies the mount, umount and
// pivot_root that rootless dockerd and its runc need, so the sandbox would not
// work under it; confining it there would take a profile of our own that
// allows those mounts and user namespaces and denies the rest as
// docker-default does (its denial of writes to /proc/sys and
// /proc/sysrq-trigger included, which nothing else here stops root in the
// container from doing: attack_test.go). That profile has not been written
// or tried: on an AppArmor host the sandboxes run without AppArmor, held by
// seccomp, the default capabilities and the cgroup limits only.
var securityOpt = []string{"seccomp=" + mustJSON(sandboxProfile()), "apparmor=unconfined"}

// Syscall arguments the profile tests on.
const (
	// cloneNamespaces is the clone(2) flag mask of Docker's default profile:
	// an unprivileged clone may create none of these namespaces.
	cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP // 0x7E020000
	// sandboxCloneNamespaces still forbids them all but a user namespace
	// and a mount namespace.
	sandboxCloneNamespaces = cloneNamespaces &^ (unix.CLONE_NEWUSER | unix.CLONE_NEWNS) // 0x6E000000
)

// sandboxProfile is Docker's default seccomp profile (github.com/moby/profiles)
// with the additions that rootless dockerd, inner `docker run`, `docker
// build` and `-p` were measured to need (shared/notes/sandbox-isolation.md:
// each was removed in turn and the failure noted), unshare narrowed to keep
// cgroup namespaces out. Everything else the default denies stays denied:
// bpf, kexec_load, init_module and the other module calls,
// open_by_handle_at, perf_event_open, etc. The container has no added
// capabilities, so none of the default's capability-conditioned rules apply.
// seccomp_test.go checks all this; attack_test.go tries the attacks.
func sandboxProfile() *seccomp.Seccomp {
	p := seccomp.DefaultProfile()

	// clone: the default lets a process without CAP_SYS_ADMIN clone only
	// when no namespace flag is set. Rootlesskit starts its child in a new
	// user and mount namespace; with the default mask the inner dockerd never
	// starts: "[rootlesskit:parent] error: failed to start the child:
	// fork/exec /proc/self/exe: operation not permitted". The other namespace
	// flags stay forbidden on clone.
	for _, s := range p.Syscalls {
		if len(s.Names) != 1 || s.Names[0] != "clone" {
			continue
		}
		for i, a := range s.Args {
			if a.Op == specs.OpMaskedEqual && a.Value == cloneNamespaces {
				s.Args[i].Value = sandboxCloneNamespaces
			}
		}
	}

	enosys := uint(unix.ENOSYS)
	p.Syscalls = append(p.Syscalls,
		&seccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: []string{"setns"}, Action: specs.ActAllow},
			Comment:      "rootlesskit joins the user namespace it made (without: \"nsenter: reassociate to namespace 'ns/user' failed\")",
		},
		&seccomp.Syscall{
			// Except a new cgroup namespace: in one, root in the container
			// (real uid 0) can mount its own cgroup v1 hierarchy read-write
			// and raise its memory, pids and CPU limits. Measured: `unshare
			// -UrmC`, `mount -t cgroup -o memory` and writes to
			// memory.memsw.limit_in_bytes and memory.limit_in_bytes took a
			// 1 GiB sandbox to 4 GiB as the host sees it; pids.max and
			// cpu.cfs_quota_us likewise. Nothing here needs a cgroup
			// namespace on this cgroup v1 host (the inner daemon runs
			// containers without cgroups); on a cgroup v2 host, where inner
			// containers get a private one, this needs looking at again.
			LinuxSyscall: specs.LinuxSyscall{
				Names:  []string{"unshare"},
				Action: specs.ActAllow,
				Args:   []specs.LinuxSeccompArg{{Index: 0, Value: unix.CLONE_NEWCGROUP, ValueTwo: 0, Op: specs.OpMaskedEqual}},
			},
			Comment: "rootlesskit and runc create user, mount, network, pid, uts and ipc namespaces " +
				"(without: \"fork/exec /proc/self/exe: operation not permitted\"); not cgroup namespaces",
		},
		&seccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: []string{"mount", "umount2", "pivot_root"}, Action: specs.ActAllow},
			Comment: "slirp4netns's sandbox and runc jailing inner containers (without: " +
				"\"failed to share mount point\", \"pivot_root .: operation not permitted\")",
		},
		&seccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: []string{"sethostname"}, Action: specs.ActAllow},
			Comment: "runc sets the hostname of inner containers (without: every inner docker run " +
				"and build step fails: \"error during container init: sethostname: operation not permitted\")",
		},
		&seccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: []string{"keyctl"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			Comment: "runc gives each inner container a session keyring and skips it only on ENOSYS; " +
				"with the default's EPERM every inner docker run fails: \"unable to join session keyring: " +
				"unable to create session key: operation not permitted\". The keyring stays unusable.",
		},
	)
	return p
}

// mustJSON serialises the profile once, at start. It cannot fail for this
// fixed structure; a panic here is a programming error seen by every test.
func mustJSON(p *seccomp.Seccomp) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic("seccomp profile: " + err.Error())
	}
	return string(b)
}
