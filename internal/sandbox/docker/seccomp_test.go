package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"handson/internal/sandbox"
	"handson/internal/testenv"
)

// profileFromOpt decodes the profile the engine passes in SecurityOpt.
func profileFromOpt(t *testing.T) (*seccomp.Seccomp, []byte) {
	t.Helper()
	if len(securityOpt) != 2 || !strings.HasPrefix(securityOpt[0], "seccomp={") || securityOpt[1] != "apparmor=unconfined" {
		t.Fatalf("securityOpt = %.80q…: want [seccomp=<json> apparmor=unconfined]", securityOpt)
	}
	raw := []byte(strings.TrimPrefix(securityOpt[0], "seccomp="))
	var p seccomp.Seccomp
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return &p, raw
}

// dockerDefaultCaps is what a container gets without --cap-add: the
// capabilities the profile's conditional rules are evaluated against.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// verdict is what the profile does with one call, as the daemon would
// resolve it for a container with Docker's default capabilities on this
// architecture (the rules' includes/excludes) and libseccomp would apply it
// (the argument comparisons of a rule are ANDed, rules are ORed).
type verdict struct {
	allowed bool
	errno   uint
}

func (v verdict) String() string {
	if v.allowed {
		return "allowed"
	}
	return fmt.Sprintf("errno %d", v.errno)
}

func seccompVerdict(p *seccomp.Seccomp, name string, args ...uint64) verdict {
	applies := func(s *seccomp.Syscall) bool {
		if inc := s.Includes; inc != nil {
			for _, c := range inc.Caps {
				if !slices.Contains(dockerDefaultCaps, c) {
					return false
				}
			}
			if len(inc.Arches) > 0 && !slices.Contains(inc.Arches, runtime.GOARCH) {
				return false
			}
		}
		if exc := s.Excludes; exc != nil {
			for _, c := range exc.Caps {
				if slices.Contains(dockerDefaultCaps, c) {
					return false
				}
			}
			if slices.Contains(exc.Arches, runtime.GOARCH) {
				return false
			}
		}
		return true
	}
	matches := func(a specs.LinuxSeccompArg) bool {
		var v uint64
		if int(a.Index) < len(args) {
			v = args[a.Index]
		}
		switch a.Op {
		case specs.OpEqualTo:
			return v == a.Value
		case specs.OpNotEqual:
			return v != a.Value
		case specs.OpLessThan:
			return v < a.Value
		case specs.OpLessEqual:
			return v <= a.Value
		case specs.OpGreaterThan:
			return v > a.Value
		case specs.OpGreaterEqual:
			return v >= a.Value
		case specs.OpMaskedEqual:
			return v&a.Value == a.ValueTwo
		}
		panic("unknown op " + a.Op)
	}
	var errnoRule *verdict
	for _, s := range p.Syscalls {
		if !slices.Contains(s.Names, name) || !applies(s) {
			continue
		}
		ok := true
		for _, a := range s.Args {
			ok = ok && matches(a)
		}
		if !ok {
			continue
		}
		switch s.Action {
		case specs.ActAllow:
			return verdict{allowed: true}
		case specs.ActErrno:
			e := uint(unix.EPERM)
			if s.ErrnoRet != nil {
				e = *s.ErrnoRet
			}
			errnoRule = &verdict{errno: e}
		}
	}
	if errnoRule != nil {
		return *errnoRule
	}
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil {
		panic("unexpected default action " + p.DefaultAction)
	}
	return verdict{errno: *p.DefaultErrnoRet}
}

// TestSeccompProfile checks the profile without a daemon: Docker's default
// plus exactly the listed additions, and the dangerous calls still denied.
func TestSeccompProfile(t *testing.T) {
	p, raw := profileFromOpt(t)
	def := seccomp.DefaultProfile()
	perm, nosys := verdict{errno: uint(unix.EPERM)}, verdict{errno: uint(unix.ENOSYS)}
	allow := verdict{allowed: true}
	const (
		newUser, newNS, newPID, newNet = unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET
		newUTS, newIPC, newCgroup      = unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP
		sigchld                        = uint64(unix.SIGCHLD)
	)
	cases := []struct {
		name string
		args []uint64
		want verdict
	}{
		// The additions.
		{"setns", nil, allow},
		{"unshare", []uint64{newUser | newNS | newNet | newPID | newUTS | newIPC}, allow},
		{"mount", nil, allow},
		{"umount2", nil, allow},
		{"pivot_root", nil, allow},
		{"sethostname", nil, allow},
		{"keyctl", nil, nosys},
		{"clone", []uint64{newUser | newNS | sigchld}, allow},
		{"clone", []uint64{sigchld}, allow},
		// Still denied: namespaces beyond user+mount on clone, cgroup
		// namespaces anywhere, modules, kexec, BPF and the rest.
		{"clone", []uint64{newUser | newPID | sigchld}, perm},
		{"clone", []uint64{newUser | newNet | sigchld}, perm},
		{"clone", []uint64{newUTS | sigchld}, perm},
		{"clone", []uint64{newIPC | sigchld}, perm},
		{"clone", []uint64{newUser | newCgroup | sigchld}, perm},
		{"unshare", []uint64{newUser | newCgroup}, perm},
		{"unshare", []uint64{newCgroup}, perm},
		{"clone3", nil, nosys},
		{"init_module", nil, perm},
		{"finit_module", nil, perm},
		{"delete_module", nil, perm},
		{"kexec_load", nil, perm},
		{"kexec_file_load", nil, perm},
		{"bpf", nil, perm},
		{"perf_event_open", nil, perm},
		{"open_by_handle_at", nil, perm},
		{"add_key", nil, perm},
		{"request_key", nil, perm},
		{"setdomainname", nil, perm},
		{"fsopen", nil, perm},
		{"fsmount", nil, perm},
		{"move_mount", nil, perm},
		{"open_tree", nil, perm},
		{"umount", nil, perm},
		{"swapon", nil, perm},
		{"reboot", nil, perm},
		{"iopl", nil, perm},
		{"settimeofday", nil, perm},
		{"userfaultfd", nil, perm},
		{"socket", []uint64{unix.AF_VSOCK}, perm},
		{"socket", []uint64{unix.AF_ALG}, perm},
		// Ordinary calls untouched.
		{"read", nil, allow},
		{"socket", []uint64{unix.AF_INET}, allow},
		{"socket", []uint64{unix.AF_NETLINK}, allow},
		{"chroot", nil, allow}, // CAP_SYS_CHROOT is a default capability
	}
	for _, c := range cases {
		if got := seccompVerdict(p, c.name, c.args...); got != c.want {
			t.Errorf("%s(%#x): %v, want %v", c.name, c.args, got, c.want)
		}
		// Sanity of the emulation: the default profile denies all the
		// additions.
		if c.want == allow && slices.Contains([]string{"setns", "unshare", "mount", "umount2", "pivot_root", "sethostname"}, c.name) {
			if got := seccompVerdict(def, c.name, c.args...); got.allowed {
				t.Errorf("default profile allows %s: the emulation is wrong", c.name)
			}
		}
	}

	// Nothing else differs from the default: its rules, in order, with only
	// clone's namespace mask changed, then exactly the additions.
	want := seccomp.DefaultProfile()
	changed := 0
	for _, s := range want.Syscalls {
		if slices.Equal(s.Names, []string{"clone"}) && len(s.Args) == 1 && s.Args[0].Value == 0x7E020000 {
			s.Args[0].Value = 0x6E000000
			changed++
		}
	}
	if changed != 2 { // the generic rule and the s390 one
		t.Errorf("changed %d clone rules of the default, want 2", changed)
	}
	n := len(want.Syscalls)
	if len(p.Syscalls) != n+5 {
		t.Fatalf("%d rules, want the default's %d + 5", len(p.Syscalls), n)
	}
	got := *p
	got.Syscalls = p.Syscalls[:n]
	if a, b := mustJSON(&got), mustJSON(want); a != b {
		t.Errorf("the default's part differs from DefaultProfile():\n got %.300s…\nwant %.300s…", a, b)
	}
	type rule struct {
		Names  []string
		Action specs.LinuxSeccompAction
		Errno  uint
		Args   []specs.LinuxSeccompArg
	}
	var added []rule
	for _, s := range p.Syscalls[n:] {
		if s.Includes != nil || s.Excludes != nil || s.Comment == "" {
			t.Errorf("added rule %v: want unconditional, with a comment saying why", s.Names)
		}
		r := rule{Names: s.Names, Action: s.Action, Args: s.Args}
		if s.ErrnoRet != nil {
			r.Errno = *s.ErrnoRet
		}
		added = append(added, r)
	}
	wantAdded := []rule{
		{Names: []string{"setns"}, Action: specs.ActAllow},
		{Names: []string{"unshare"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: newCgroup, Op: specs.OpMaskedEqual}}},
		{Names: []string{"mount", "umount2", "pivot_root"}, Action: specs.ActAllow},
		{Names: []string{"sethostname"}, Action: specs.ActAllow},
		{Names: []string{"keyctl"}, Action: specs.ActErrno, Errno: 38},
	}
	if a, b := fmt.Sprintf("%+v", added), fmt.Sprintf("%+v", wantAdded); a != b {
		t.Errorf("added rules:\n got %s\nwant %s", a, b)
	}

	// Docker 20.10 decodes the profile into its own types and silently
	// drops fields it does not know, which would change what is enforced.
	// Every key used must be one of those its types have (all present as
	// JSON tags in Debian's dockerd 20.10.24).
	known := map[string]bool{
		"defaultAction": true, "defaultErrnoRet": true, "architectures": true, "archMap": true,
		"architecture": true, "subArchitectures": true, "syscalls": true, "name": true, "names": true,
		"action": true, "errnoRet": true, "args": true, "index": true, "value": true, "valueTwo": true,
		"op": true, "comment": true, "includes": true, "excludes": true, "caps": true, "arches": true,
		"minKernel": true,
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !known[k] {
					t.Errorf("profile JSON uses key %q, unknown to Docker 20.10", k)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	t.Logf("profile: %d bytes of JSON, %d rules (%d from Docker's default)", len(raw), len(p.Syscalls), n)
}

// newSandboxes starts the sandboxes for keys in parallel on an engine of
// its own instance id, and removes them (and their networks) when the test
// ends, also before starting in case a crashed run left them behind.
func newSandboxes(t *testing.T, instance string, keys ...sandbox.Key) (*Engine, []*sandbox.Sandbox) {
	t.Helper()
	testenv.RequireDocker(t)
	e, err := New(context.Background(), instance+strconv.Itoa(os.Getpid()), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	clean := func() {
		for _, k := range keys {
			if err := e.Remove(context.Background(), k); err != nil {
				t.Errorf("remove: %v", err)
			}
		}
	}
	clean()
	t.Cleanup(func() { clean(); e.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sbs := make([]*sandbox.Sandbox, len(keys))
	errs := make([]error, len(keys))
	start := time.Now()
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { sbs[i], errs[i] = ensureReady(ctx, e, k, spec, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d sandbox(es) ready in %v", len(keys), time.Since(start).Round(time.Millisecond))
	return e, sbs
}

// execLog runs a bash script in sb as user ("" is the student) and logs what
// was tried and what came back.
func execLog(t *testing.T, e *Engine, sb *sandbox.Sandbox, user, script string, timeout time.Duration) *sandbox.Result {
	t.Helper()
	who := user
	if who == "" {
		who = "student"
	}
	res, err := e.Exec(context.Background(), sb, sandbox.Command{Cmd: []string{"bash", "-c", script}, User: user, Timeout: timeout})
	if err != nil {
		t.Fatalf("as %s: %v", who, err)
	}
	t.Logf("as %s (exit %d, %v):\n%s", who, res.ExitCode, res.Duration.Round(time.Millisecond), indentOutput(res.Output))
	return res
}

func indentOutput(b []byte) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(string(b), "\n", "\n    ")
}

// probeScript calls raw syscalls from perl (perl-base is in every Debian
// image) in a forked child each, and prints "PROBE <spec> <ret> <errno>"
// with ret 0 for success, -1 for failure. A spec is name[:arg…], the
// arguments in hex. A clone that succeeds exits at once in the child.
const probeScript = `
use strict; use POSIX ();
my %nr = (
  x86_64  => {keyctl=>250, bpf=>321, init_module=>175, finit_module=>313, delete_module=>176, kexec_load=>246, clone=>56,  unshare=>272},
  aarch64 => {keyctl=>219, bpf=>280, init_module=>105, finit_module=>273, delete_module=>106, kexec_load=>104, clone=>220, unshare=>97},
);
my $t = $nr{(POSIX::uname())[4]} or die "no syscall numbers for " . (POSIX::uname())[4] . "\n";
$| = 1;
for my $p (@ARGV) {
  my ($name, @a) = split /:/, $p;
  @a = map { hex($_) } @a;
  push @a, 0 while @a < 5;
  my $pid = fork();
  if ($pid == 0) {
    $! = 0;
    my $r = syscall($t->{$name}, @a);
    my $e = $! + 0;
    POSIX::_exit(0) if $name eq "clone" && $r == 0;
    waitpid($r, 0) if $name eq "clone" && $r > 0;
    printf "PROBE %s %d %d\n", $p, ($r < 0 ? -1 : 0), ($r < 0 ? $e : 0);
    POSIX::_exit(0);
  }
  waitpid($pid, 0);
}
`

type probeResult struct {
	ok    bool
	errno int
}

// probeSyscalls runs probeScript for calls as user and returns the results by call.
func probeSyscalls(t *testing.T, e *Engine, sb *sandbox.Sandbox, user string, calls ...string) map[string]probeResult {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		testenv.Missing(t, "probeScript has no syscall numbers for %s (add them to its %%nr)", runtime.GOARCH)
	}
	who := user
	if who == "" {
		who = "student"
	}
	res, err := e.Exec(context.Background(), sb, sandbox.Command{Cmd: append([]string{"perl", "-e", probeScript}, calls...), User: user, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("probe as %s: %v", who, err)
	}
	t.Logf("syscall probes as %s (exit %d):\n%s", who, res.ExitCode, indentOutput(res.Output))
	out := map[string]probeResult{}
	for _, line := range strings.Split(string(res.Output), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "PROBE" {
			ret, _ := strconv.Atoi(f[2])
			errno, _ := strconv.Atoi(f[3])
			out[f[1]] = probeResult{ok: ret == 0, errno: errno}
		}
	}
	for _, s := range calls {
		if _, ok := out[s]; !ok {
			t.Fatalf("probe %s printed nothing", s)
		}
	}
	return out
}

// TestSeccompSandbox runs a real sandbox with the profile: the 20.10 daemon
// accepts it and enforces it as written, and rootless dockerd, inner run,
// build and published ports all work under it.
func TestSeccompSandbox(t *testing.T) {
	key := sandbox.Key{UserID: 999201, Lab: "seccomp-test"}
	e, sbs := newSandboxes(t, "seccomp", key)
	sb := sbs[0]
	ctx := context.Background()

	info, err := e.cli.ContainerInspect(ctx, sb.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if so := info.Container.HostConfig.SecurityOpt; !slices.Equal(so, securityOpt) {
		t.Errorf("container runs with SecurityOpt %.100q…, want the engine's profile", so)
	}
	if sys, err := e.cli.Info(ctx, client.InfoOptions{}); err == nil {
		t.Logf("daemon %s, security options %v", sys.Info.ServerVersion, sys.Info.SecurityOptions)
	}

	// The filter is in place for the container's processes…
	res := execLog(t, e, sb, "root", "grep Seccomp /proc/1/status /proc/self/status", 10*time.Second)
	if strings.Count(string(res.Output), "Seccomp:\t2") != 2 {
		t.Errorf("seccomp is not in filter mode (2) for init and exec")
	}
	// …and it is ours, not the default nor none: keyctl answers ENOSYS
	// (unconfined: a keyring; default: EPERM), clone into a user namespace
	// works (default: EPERM), and what stays denied is denied by it
	// (unconfined: bpf EINVAL, clone NEWUSER|NEWPID works).
	const (
		cloneUser       = "clone:10000011"   // CLONE_NEWUSER|SIGCHLD
		cloneUserMount  = "clone:10020011"   // |CLONE_NEWNS
		cloneUserPID    = "clone:30000011"   // CLONE_NEWUSER|CLONE_NEWPID|SIGCHLD
		cloneUserNet    = "clone:50000011"   // CLONE_NEWUSER|CLONE_NEWNET|SIGCHLD
		unshareUser     = "unshare:10000000" // CLONE_NEWUSER
		unshareUserPID  = "unshare:30000000"
		unshareUserCgns = "unshare:12000000" // CLONE_NEWUSER|CLONE_NEWCGROUP
		keyctlJoin      = "keyctl:1"         // KEYCTL_JOIN_SESSION_KEYRING
	)
	for _, user := range []string{"", "root"} {
		got := probeSyscalls(t, e, sb, user, keyctlJoin, "bpf:0", cloneUser, cloneUserMount, cloneUserPID, cloneUserNet,
			unshareUser, unshareUserPID, unshareUserCgns)
		want := map[string]probeResult{
			keyctlJoin:      {errno: int(unix.ENOSYS)},
			"bpf:0":         {errno: int(unix.EPERM)},
			cloneUser:       {ok: true},
			cloneUserMount:  {ok: true},
			cloneUserPID:    {errno: int(unix.EPERM)},
			cloneUserNet:    {errno: int(unix.EPERM)},
			unshareUser:     {ok: true},
			unshareUserPID:  {ok: true},
			unshareUserCgns: {errno: int(unix.EPERM)},
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("as %q: %s = %+v, want %+v", user, k, got[k], w)
			}
		}
	}

	// The student's own Docker works under the profile.
	res = execLog(t, e, sb, "", `set -e
docker info --format 'security: {{.SecurityOptions}}'
docker run --rm busybox echo inner-run-ok
d=$(mktemp -d)
printf 'FROM busybox\nRUN echo built-under-seccomp >/built\n' >$d/Dockerfile
docker build -q -t seccomp-build $d
docker run --rm seccomp-build cat /built
docker run -d --name web -p 8080:80 busybox sh -c 'mkdir /www && echo published-ok >/www/index.html && exec httpd -f -p 80 -h /www'
for i in $(seq 1 50); do curl -fsS localhost:8080 && break; sleep 0.1; done`, 2*time.Minute)
	out := string(res.Output)
	for _, want := range []string{"rootless", "inner-run-ok", "built-under-seccomp", "published-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("inner docker output lacks %q", want)
		}
	}
	if res.ExitCode != 0 {
		t.Errorf("inner docker: exit %d", res.ExitCode)
	}
}
