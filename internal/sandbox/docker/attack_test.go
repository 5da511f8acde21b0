package docker

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"handson/internal/config"
	"handson/internal/firewall"
	"handson/internal/sandbox"
)

// The attacks a student could try from inside a sandbox, each run for real
// against the daemon and each asserted to fail. They run as the student and,
// where it matters, as root in the container: the strongest position a
// student could reach by an escape inside the container.
//
// Out of scope here (the host firewall's tests): services on the host
// through a gateway, the platform's port, 169.254.169.254.

// tryFn prefixes every attack script: `try NAME CMD…` runs CMD, shows its
// first lines of output and prints "RESULT NAME <exit code>".
const tryFn = `try() { local n=$1; shift; local out; out=$("$@" 2>&1); local rc=$?; [ -n "$out" ] && printf '%s\n' "$out" | head -n 4 | sed 's/^/    /'; echo "RESULT $n $rc"; }
`

var resultLine = regexp.MustCompile(`(?m)^RESULT (\S+) (\d+)$`)

// attemptResults parses the RESULT lines of a script's output.
func attemptResults(out []byte) map[string]int {
	m := map[string]int{}
	for _, r := range resultLine.FindAllStringSubmatch(string(out), -1) {
		m[r[1]], _ = strconv.Atoi(r[2])
	}
	return m
}

// assertBlocked fails t unless every named attempt ran and failed.
func assertBlocked(t *testing.T, who string, out []byte, names ...string) {
	t.Helper()
	got := attemptResults(out)
	for _, n := range names {
		rc, ok := got[n]
		switch {
		case !ok:
			t.Errorf("as %s: attempt %s did not run", who, n)
		case rc == 0:
			t.Errorf("ATTACK SUCCEEDED as %s: %s exited 0", who, n)
		}
	}
}

func userName(u string) string {
	if u == "" {
		return "student"
	}
	return u
}

// hostCgroup reads a file of the container's cgroup as the host sees it
// (cgroup v1, cgroupfs driver); ok is false when that is not visible here.
func hostCgroup(id, controller, file string) (string, bool) {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, "docker", id, file))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

func TestAttacks(t *testing.T) {
	keyA := sandbox.Key{UserID: 999301, Lab: "attack-a"}
	keyB := sandbox.Key{UserID: 999302, Lab: "attack-b"}
	e, sbs := newSandboxes(t, "attack", keyA, keyB)
	a, b := sbs[0], sbs[1]
	ctx := context.Background()
	both := []string{"", "root"}

	host, err := e.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hostID := host.Info.ID
	inspA, err := e.cli.ContainerInspect(ctx, a.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idA := inspA.Container.ID

	t.Run("1 host docker.sock", func(t *testing.T) {
		for _, u := range both {
			res := execLog(t, e, a, u, tryFn+`
ls -l /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock 2>&1 | sed 's/^/    /'
try host-socket docker -H unix:///var/run/docker.sock ps
try host-socket-curl curl -sS -m 2 --unix-socket /var/run/docker.sock http://localhost/info
docker info --format 'OWN {{.ID}} {{.SecurityOptions}}'
# Every unix socket: in the filesystem and in /proc/net/unix (abstract ones
# too). Any that speaks the Docker API tells its daemon's ID.
{ find / -xdev -type s 2>/dev/null; awk 'NR>1 && $8 != "" {print $8}' /proc/net/unix; } | sort -u | while read -r s; do
  case $s in @*) opt=(--abstract-unix-socket "${s#@}");; *) opt=(--unix-socket "$s");; esac
  id=$(curl -s -m 2 "${opt[@]}" http://localhost/info 2>/dev/null | grep -o '"ID":"[^"]*"' | head -1 | cut -d'"' -f4)
  echo "SOCKET $s ${id:--}"
done`, time.Minute)
			out := string(res.Output)
			who := userName(u)
			assertBlocked(t, who, res.Output, "host-socket", "host-socket-curl")
			if !strings.Contains(out, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock") {
				t.Errorf("as %s: docker -H unix:///var/run/docker.sock did not fail with \"Cannot connect\"", who)
			}
			own := regexp.MustCompile(`(?m)^OWN (\S+) (.*)$`).FindStringSubmatch(out)
			if own == nil || !strings.Contains(own[2], "rootless") || own[1] == hostID {
				t.Fatalf("as %s: the student's own daemon is not the rootless one: %q (host's ID %s)", who, own, hostID)
			}
			answered := 0
			for _, m := range regexp.MustCompile(`(?m)^SOCKET (\S+) (\S+)$`).FindAllStringSubmatch(out, -1) {
				switch m[2] {
				case hostID:
					t.Errorf("ATTACK SUCCEEDED as %s: socket %s reaches the HOST's Docker daemon", who, m[1])
				case own[1]:
					answered++
				}
			}
			// The positive control: the scan does find a Docker API, the
			// student's own.
			if answered == 0 {
				t.Errorf("as %s: no socket answered with the student's own daemon (ID %s): the scan found nothing", who, own[1])
			}
		}
	})

	t.Run("2 host disk", func(t *testing.T) {
		for _, u := range both {
			res := execLog(t, e, a, u, tryFn+`
u=$(id -u)
# The device under the container's /etc/hosts bind mount is the host's disk.
line=$(grep -m1 ' /etc/hosts ' /proc/self/mountinfo)
majmin=$(echo "$line" | awk '{print $3}')
set -- $(echo "$line" | sed 's/.* - //')
fstype=$1 src=$2
echo "DEVICE $src $majmin $fstype"
mkdir -p /tmp/mnt-$u
try mount-found mount -t "$fstype" "$src" /tmp/mnt-$u
try mount-vda mount /dev/vda /tmp/mnt-$u
try mount-sda mount /dev/sda /tmp/mnt-$u
try mknod mknod /tmp/hostdisk-$u b ${majmin%:*} ${majmin#*:}
try read-node head -c 512 /tmp/hostdisk-$u
try mount-node mount -t "$fstype" /tmp/hostdisk-$u /tmp/mnt-$u
try userns-mount-node unshare -Urm mount -t "$fstype" /tmp/hostdisk-$u /tmp/mnt-$u
try userns-mknod-mount unshare -Urm sh -c "mknod /tmp/hd-ns-$u b ${majmin%:*} ${majmin#*:} && mount -t $fstype /tmp/hd-ns-$u /tmp/mnt-$u"
echo "MOUNTED $(grep -c " /tmp/mnt-$u " /proc/self/mountinfo) $(ls -A /tmp/mnt-$u | wc -l)"`, time.Minute)
			who := userName(u)
			if !regexp.MustCompile(`(?m)^DEVICE /dev/\S+ \d+:\d+ \S+$`).Match(res.Output) {
				t.Fatalf("as %s: could not find the host's disk device: the attack would be meaningless", who)
			}
			// mknod itself is allowed (CAP_MKNOD is a default capability);
			// the device cgroup refuses to open the node.
			assertBlocked(t, who, res.Output, "mount-found", "mount-vda", "mount-sda", "read-node", "mount-node",
				"userns-mount-node", "userns-mknod-mount")
			if !strings.Contains(string(res.Output), "MOUNTED 0 0") {
				t.Errorf("ATTACK SUCCEEDED as %s: something is mounted on the target", who)
			}
		}
	})

	t.Run("3 host cgroups", func(t *testing.T) {
		for _, u := range both {
			res := execLog(t, e, a, u, tryFn+`
u=$(id -u); d=/tmp/cg-$u; mkdir -p $d
try mount-cgroup-v1 mount -t cgroup -o memory cgroup $d
try mount-cgroup-v2 mount -t cgroup2 cgroup2 $d
try remount-rw mount -o remount,rw /sys/fs/cgroup/memory
try raise-memory sh -c 'echo 4294967296 >/sys/fs/cgroup/memory/memory.limit_in_bytes'
try raise-pids sh -c 'echo max >/sys/fs/cgroup/pids/pids.max'
try release-agent sh -c 'echo /tmp/x >/sys/fs/cgroup/memory/release_agent'
# In a user namespace of one's own: with a new cgroup namespace (the
# CVE-2022-0492 route; here it would also raise the sandbox's own limits),
# and without one.
try userns-cgns-raise-memory unshare -UrmC sh -c "mount -t cgroup -o memory cgroup $d && echo 4294967296 >$d/memory.memsw.limit_in_bytes && echo 4294967296 >$d/memory.limit_in_bytes"
try userns-cgns-raise-pids unshare -UrmC sh -c "mount -t cgroup -o pids cgroup $d && echo max >$d/pids.max"
try userns-cgns-release-agent unshare -UrmC sh -c "mount -t cgroup -o memory cgroup $d && echo /tmp/x >$d/release_agent"
try userns-cgns-new-hierarchy unshare -UrmC mount -t cgroup -o none,name=escape cgroup $d
try userns-mount-cgroup unshare -Urm mount -t cgroup -o memory cgroup $d
try userns-remount-rw unshare -Urm mount -o remount,rw /sys/fs/cgroup/memory
echo "LIMITS $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us | tr '\n' ' ')"`, time.Minute)
			who := userName(u)
			assertBlocked(t, who, res.Output, "mount-cgroup-v1", "mount-cgroup-v2", "remount-rw", "raise-memory", "raise-pids",
				"release-agent", "userns-cgns-raise-memory", "userns-cgns-raise-pids", "userns-cgns-release-agent", "userns-cgns-new-hierarchy", "userns-mount-cgroup", "userns-remount-rw")
			if want := "LIMITS 1073741824 1073741824 512 100000 "; !strings.Contains(string(res.Output), want) {
				t.Errorf("ATTACK SUCCEEDED as %s: the sandbox's limits changed; want %q", who, want)
			}
		}
		if v, ok := hostCgroup(idA, "memory", "memory.limit_in_bytes"); ok {
			t.Logf("host's view of the sandbox's memory limit: %s", v)
			if v != "1073741824" {
				t.Errorf("ATTACK SUCCEEDED: the host's cgroup of the sandbox has memory limit %s, want 1073741824", v)
			}
		}
	})

	t.Run("4 kernel modules", func(t *testing.T) {
		for _, u := range both {
			who := userName(u)
			execLog(t, e, a, u, `ls /lib/modules 2>&1; command -v insmod modprobe || echo "no insmod/modprobe in the image"`, 10*time.Second)
			// The calls themselves, with arguments that would be invalid:
			// blocked means refused before they are looked at.
			got := probeSyscalls(t, e, a, u, "init_module:0:0:0", "finit_module:0:0:0", "delete_module:0:0", "kexec_load:0:0:0:0")
			for spec, r := range got {
				if r.ok {
					t.Errorf("ATTACK SUCCEEDED as %s: %s returned success", who, spec)
				} else if r.errno != 1 {
					t.Errorf("as %s: %s failed with errno %d, want EPERM from seccomp", who, spec, r.errno)
				}
			}
		}
	})

	t.Run("5 host kernel settings in /proc/sys", func(t *testing.T) {
		// Docker normally mounts /proc/sys read-only; the sandbox runs with
		// systempaths=unconfined (inner containers need a fully visible
		// procfs). Each setting is written back with the value it already
		// has, so a success proves write access without changing the host.
		for _, u := range both {
			res := execLog(t, e, a, u, tryFn+`
for f in kernel/core_pattern kernel/modprobe kernel/panic_on_oops vm/panic_on_oom vm/overcommit_memory; do
  p=/proc/sys/$f
  [ -e $p ] || { echo "    $p is absent"; continue; }
  v=$(cat $p)
  echo "    $p = $v"
  try ${f//\//.} sh -c 'printf "%s\n" "$1" >"$2"' _ "$v" $p
done
if [ -e /proc/sysrq-trigger ]; then try sysrq-trigger-open sh -c ': >>/proc/sysrq-trigger'; else echo "    /proc/sysrq-trigger is absent"; fi`, 30*time.Second)
			who := userName(u)
			impact := map[string]string{
				"kernel.core_pattern":  `"|/path" makes the host kernel run /path as root, outside the container, when any process dumps core: a full host escape`,
				"kernel.modprobe":      "the host kernel runs that program as root when it wants a module",
				"kernel.panic_on_oops": "the whole host panics on the next oops",
				"vm.panic_on_oom":      "2 makes the whole host panic on any OOM, the sandbox's own memory limit included",
				"vm.overcommit_memory": "the host's memory policy",
				"sysrq-trigger-open":   `"b" reboots the host, "c" crashes it`,
			}
			for name, rc := range attemptResults(res.Output) {
				if rc == 0 {
					t.Errorf("ATTACK SUCCEEDED as %s: wrote the host's %s (%s)", who, name, impact[name])
				}
			}
			if _, ok := attemptResults(res.Output)["kernel.core_pattern"]; !ok {
				t.Errorf("as %s: core_pattern was not tried", who)
			}
		}
		if b, err := os.ReadFile("/proc/sys/kernel/core_pattern"); err == nil {
			t.Logf("host's kernel.core_pattern after the test: %q", strings.TrimSpace(string(b)))
		}
	})

	t.Run("5b no way to root inside", func(t *testing.T) {
		// The checks run as root in the sandbox; a student who became root
		// could forge them. No setuid/setgid program is left to try.
		res := execLog(t, e, a, "", tryFn+`
found=$(find / -xdev -type f -perm /6000 2>/dev/null)
[ -n "$found" ] && printf '    %s\n' $found
try setuid-programs test -n "$found"
try su su -c id root </dev/null`, 30*time.Second)
		assertBlocked(t, "student", res.Output, "setuid-programs", "su")
		// Root in the container is not root on the host.
		res = execLog(t, e, a, "root", tryFn+`try host-root grep -E '^ +0 +0 ' /proc/self/uid_map`, 10*time.Second)
		assertBlocked(t, "root", res.Output, "host-root")
	})

	t.Run("5c host services, the platform's port, cloud metadata", func(t *testing.T) {
		// The platform's own rules, as handson serve installs them (with
		// the classroom registry's default port open: every handson on the
		// host must ask for the same rules). The registry's own attacks
		// (other namespaces, library/, forged and expired tokens) are in
		// internal/registry.
		if err := firewall.Ensure(ctx, Firewall(config.Default().RegistryPort())); err != nil {
			t.Fatal(err)
		}
		// A host service on every address: it stands for the platform's
		// HTTP port, a host daemon's TCP port, anything bound to 0.0.0.0.
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host-secret") }))
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

		targets := []string{"172.17.0.1"}
		for _, k := range []sandbox.Key{keyA, keyB} {
			n, err := e.cli.NetworkInspect(ctx, e.Name(k), client.NetworkInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range n.Network.IPAM.Config {
				if c.Gateway.IsValid() {
					targets = append(targets, c.Gateway.String())
				}
			}
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() && !strings.HasPrefix(ip.IP.String(), "172.") {
					targets = append(targets, ip.IP.String()) // the host's own addresses
				}
			}
		}
		// Positive control: the service answers on those addresses from the host.
		for _, ip := range targets {
			if res, err := http.Get("http://" + net.JoinHostPort(ip, port)); err != nil {
				t.Fatalf("control: the host cannot reach its own service on %s: %v", ip, err)
			} else {
				res.Body.Close()
			}
		}
		script := tryFn
		var names []string
		for _, ip := range targets {
			script += "try host-" + ip + " curl -sS -m 3 http://" + net.JoinHostPort(ip, port) + "/\n"
			names = append(names, "host-"+ip)
		}
		script += "try metadata curl -sS -m 3 http://169.254.169.254/latest/meta-data/\n"
		names = append(names, "metadata")
		for _, u := range both {
			res := execLog(t, e, a, u, script, 60*time.Second)
			if strings.Contains(string(res.Output), "host-secret") {
				t.Errorf("ATTACK SUCCEEDED as %s: read the host service", userName(u))
			}
			assertBlocked(t, userName(u), res.Output, names...)
		}
	})

	t.Run("6 host processes", func(t *testing.T) {
		hostNS, _ := os.Readlink("/proc/self/ns/pid")
		hostPID, _ := os.ReadFile("/var/run/docker.pid")
		for _, u := range both {
			res := execLog(t, e, a, u, `
echo "PIDNS $(readlink /proc/self/ns/pid)"
echo "INIT $(tr '\0' ' ' </proc/1/cmdline)"
echo "NPROC $(ls -d /proc/[0-9]* | wc -l)"
hp='`+strings.TrimSpace(string(hostPID))+`'
[ -n "$hp" ] && echo "the host's dockerd is pid $hp there; here /proc/$hp is: $(tr '\0' ' ' </proc/$hp/cmdline 2>&1)"
ps -eo user:10,pid,args --no-headers`, 10*time.Second)
			who := userName(u)
			out := string(res.Output)
			if ns := regexp.MustCompile(`(?m)^PIDNS (\S+)$`).FindStringSubmatch(out); ns == nil || ns[1] == hostNS {
				t.Errorf("ATTACK SUCCEEDED as %s: the sandbox is in the host's pid namespace %s", who, hostNS)
			}
			if !regexp.MustCompile(`(?m)^INIT /sbin/docker-init `).MatchString(out) {
				t.Errorf("as %s: pid 1 is not the container's docker-init", who)
			}
			// The host runs dockerd and containerd as root; inside, the only
			// daemons are the student's.
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && f[0] == "root" && regexp.MustCompile(`(^|/)(dockerd|containerd|containerd-shim\S*|systemd|sshd)$`).MatchString(f[2]) {
					t.Errorf("ATTACK SUCCEEDED as %s: a host process is visible: %s", who, line)
				}
			}
		}
	})

	t.Run("7 another sandbox", func(t *testing.T) {
		inspB, err := e.cli.ContainerInspect(ctx, b.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ipB string
		for _, n := range inspB.Container.NetworkSettings.Networks {
			ipB = n.IPAddress.String()
		}
		// B serves a page on its own address, through the student's
		// Docker (rootlesskit publishes the port in B's namespace).
		res := execLog(t, e, b, "", `docker run -d -p 9999:80 busybox sh -c 'mkdir /www && echo sandbox-b-secret >/www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
for i in $(seq 1 50); do curl -fsS localhost:9999 && break; sleep 0.1; done`, time.Minute)
		if !strings.Contains(string(res.Output), "sandbox-b-secret") {
			t.Fatal("B's listener does not answer inside B")
		}
		// The positive control: the host reaches it.
		hc := http.Client{Timeout: 5 * time.Second}
		r, err := hc.Get("http://" + ipB + ":9999/")
		if err != nil {
			t.Fatalf("positive control: the host cannot reach B's listener at %s:9999: %v", ipB, err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.Contains(string(body), "sandbox-b-secret") {
			t.Fatalf("positive control: B's listener answered the host %q", body)
		}
		t.Logf("the host reaches B at %s:9999: %q", ipB, strings.TrimSpace(string(body)))

		for _, u := range both {
			res := execLog(t, e, a, u, tryFn+`
ip=`+ipB+`
try curl curl -sS -m 3 http://$ip:9999/ &
try ping ping -c 2 -W 1 $ip &
try bash-tcp timeout 3 bash -c "exec 3<>/dev/tcp/$ip/9999 && echo connected" &
wait`, 30*time.Second)
			who := userName(u)
			assertBlocked(t, who, res.Output, "curl", "ping", "bash-tcp")
			if strings.Contains(string(res.Output), "sandbox-b-secret") {
				t.Errorf("ATTACK SUCCEEDED as %s: A read B's page", who)
			}
		}
	})

	// hostAnswers samples the host daemon (`docker ps`) every 250 ms until
	// stop is closed and reports the slowest answer and any failure.
	hostAnswers := func(stop <-chan struct{}) func() (time.Duration, int, error) {
		var (
			mu      sync.Mutex
			slowest time.Duration
			n       int
			first   error
		)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(250 * time.Millisecond):
				}
				c, cancel := context.WithTimeout(ctx, 2*time.Second)
				start := time.Now()
				_, err := e.cli.ContainerList(c, client.ContainerListOptions{})
				d := time.Since(start)
				cancel()
				mu.Lock()
				n++
				slowest = max(slowest, d)
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
		return func() (time.Duration, int, error) {
			<-done
			mu.Lock()
			defer mu.Unlock()
			return slowest, n, first
		}
	}

	t.Run("8 memory bomb", func(t *testing.T) {
		stop := make(chan struct{})
		result := hostAnswers(stop)
		res := execLog(t, e, a, "", `oom() { awk '$1=="oom_kill"{print $2}' /sys/fs/cgroup/memory/memory.oom_control; }
before=$(oom)
head -c 3G /dev/zero | tail >/dev/null
echo "RESULT memory-bomb ${PIPESTATUS[1]}"
echo "OOMKILLS $before $(oom)"
echo "MAXUSAGE $(cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes)"`, time.Minute)
		close(stop)
		slowest, n, err := result()
		t.Logf("host docker ps during the bomb: %d answers, slowest %v, error %v", n, slowest.Round(time.Millisecond), err)
		if err != nil || slowest > 2*time.Second {
			t.Errorf("the host daemon was slow or failed during the memory bomb: slowest %v, error %v", slowest, err)
		}
		assertBlocked(t, "student", res.Output, "memory-bomb")
		m := regexp.MustCompile(`(?m)^OOMKILLS (\d+) (\d+)$`).FindStringSubmatch(string(res.Output))
		if m == nil || m[1] == m[2] {
			t.Errorf("no OOM kill counted in the sandbox's own memory cgroup: %q", m)
		}
		if m := regexp.MustCompile(`(?m)^MAXUSAGE (\d+)$`).FindStringSubmatch(string(res.Output)); m == nil {
			t.Error("no max usage")
		} else if v, _ := strconv.ParseInt(m[1], 10, 64); v > spec.Limits.MemoryBytes {
			t.Errorf("ATTACK SUCCEEDED: the sandbox used %d bytes, over its limit %d", v, spec.Limits.MemoryBytes)
		}
		// The sandbox lives on: its own Docker still answers.
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := ensureReady(c, e, keyA, spec, nil); err != nil {
			t.Errorf("sandbox not ready after the memory bomb: %v", err)
		}
	})

	t.Run("9 fork bomb", func(t *testing.T) {
		stop := make(chan struct{})
		result := hostAnswers(stop)
		res := execLog(t, e, a, "", `nohup timeout -s KILL 30 bash -c ':(){ :|:& };:' >/dev/null 2>&1 &
echo started`, 10*time.Second)
		if !strings.Contains(string(res.Output), "started") {
			t.Fatal("the fork bomb did not start")
		}
		// Until the bomb hits the limit (pids.events counts the refused
		// forks), and a little longer; on a loaded machine it may take many
		// seconds to get there (the bomb itself dies after 30 s).
		maxPids, seen, events := 0, false, ""
		var hit time.Time
		for deadline := time.Now().Add(25 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if v, ok := hostCgroup(idA, "pids", "pids.current"); ok {
				n, _ := strconv.Atoi(v)
				maxPids, seen = max(maxPids, n), true
			}
			events, _ = hostCgroup(idA, "pids", "pids.events")
			if strings.HasPrefix(events, "max ") && events != "max 0" {
				if hit.IsZero() {
					hit = time.Now()
				}
				if time.Since(hit) > 2*time.Second {
					break
				}
			}
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		during, err := e.Exec(c, a, sandbox.Command{Cmd: []string{"true"}, User: "root", Timeout: 5 * time.Second})
		cancel()
		t.Logf("exec into the sandbox during the bomb: %v %v", during, err)
		close(stop)
		slowest, n, hostErr := result()
		t.Logf("host docker ps during the bomb: %d answers, slowest %v, error %v; the sandbox's pids.current (host's view) up to %d, pids.events %q",
			n, slowest.Round(time.Millisecond), hostErr, maxPids, events)
		if hostErr != nil || slowest > 2*time.Second {
			t.Errorf("the host daemon was slow or failed during the fork bomb: slowest %v, error %v", slowest, hostErr)
		}
		if seen {
			if maxPids > int(spec.Limits.Pids) {
				t.Errorf("ATTACK SUCCEEDED: %d pids in the sandbox, over its limit %d", maxPids, spec.Limits.Pids)
			}
			if !strings.HasPrefix(events, "max ") || events == "max 0" {
				t.Errorf("the bomb never reached the pids limit (pids.events %q): the test proved nothing", events)
			}
		}

		// Recovery: kill and start, then the student's Docker is back.
		start := time.Now()
		c, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := e.cli.ContainerKill(c, a.ID, client.ContainerKillOptions{}); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if _, err := e.cli.ContainerStart(c, a.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("start: %v", err)
		}
		restarted := time.Since(start)
		if _, err := ensureReady(c, e, keyA, spec, nil); err != nil {
			t.Fatalf("sandbox not ready after kill+start: %v", err)
		}
		t.Logf("recovered: kill+start %v, ready after %v", restarted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		res = execLog(t, e, a, "", "docker run --rm busybox echo recovered", time.Minute)
		if !strings.Contains(string(res.Output), "recovered") {
			t.Errorf("inner docker run after recovery: %s", res.Output)
		}
	})
}
