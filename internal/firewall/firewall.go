// Package firewall keeps sandboxes away from the host and from cloud
// metadata with a few iptables rules. Every sandbox network's Linux bridge
// is named BridgePrefix+… ("hs-…"), so one interface match covers them all;
// the rules match the ingress interface, never a source address, because
// sandboxes have NET_RAW and can forge sources.
//
// Two chains of our own, each jumped to once, first, from a hook chain:
//
//	INPUT       -i hs-+ -j HANDSON-INPUT    sandbox → any address of the host
//	DOCKER-USER -i hs-+ -j HANDSON-FORWARD  sandbox → elsewhere (routed)
//
// HANDSON-INPUT is installed for IPv6 too (ip6tables): sandbox networks have
// no IPv6, but root in a sandbox can switch IPv6 on for its eth0 and reach
// the host's services on [::] through the bridge's fe80:: address.
//
// See docs/firewall.md for the rules, the reason for each and how to inspect
// them.
package firewall

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultName prefixes the platform's chains: HANDSON-INPUT, HANDSON-FORWARD.
const DefaultName = "HANDSON"

// dockerUser is the chain dockerd creates for user rules; FORWARD jumps to it
// before any of Docker's own rules.
const dockerUser = "DOCKER-USER"

// Rules says what sandboxes may reach.
type Rules struct {
	// Name prefixes our chains (NAME-INPUT, NAME-FORWARD); empty means
	// DefaultName. Tests use their own, so they never touch the platform's.
	Name string
	// BridgePrefix starts the Linux bridge name of every sandbox network
	// ("hs-"); the rules match "-i BridgePrefix+".
	BridgePrefix string
	// AllowedPorts are host TCP ports sandboxes may connect to (e.g. the
	// classroom registry). Every other host port is refused.
	AllowedPorts []int
}

// rule is one line of one of our chains, with the reason it is there.
type rule struct {
	spec string // as `iptables -S` prints it, after "-A CHAIN "
	why  string
}

// chain is one of our chains and the hook that jumps to it.
type chain struct {
	name  string
	hook  string // built-in or Docker chain that jumps here, at position 1
	rules []rule
}

// family is iptables (IPv4) or ip6tables (IPv6).
type family struct {
	name   string
	cmd    string
	reject string // ICMP answer for a refused non-TCP packet
}

var (
	ipv4 = family{"IPv4", "iptables", "icmp-port-unreachable"}
	ipv6 = family{"IPv6", "ip6tables", "icmp6-port-unreachable"}
)

// plan is the complete rule set of family f, in order. Each spec is written
// exactly as `iptables -S` prints it, so Verify can compare text.
func plan(r Rules, f family) []chain {
	in := chain{name: r.chainName("INPUT"), hook: "INPUT"}
	in.rules = append(in.rules, rule{"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"replies to connections the host opened, and their ICMP errors"})
	for _, p := range ports(r) {
		in.rules = append(in.rules, rule{"-p tcp -m tcp --dport " + strconv.Itoa(p) + " -j ACCEPT",
			"a host service sandboxes may use (Rules.AllowedPorts)"})
	}
	in.rules = append(in.rules,
		rule{"-p tcp -j REJECT --reject-with tcp-reset",
			"every other host TCP port, on every host address: refused at once"},
		rule{"-j REJECT --reject-with " + f.reject,
			"everything else to the host (UDP, ICMP, …): refused"})
	chains := []chain{in}
	if f == ipv4 {
		// TCP gets a reset: with only the ICMP answer, a connect() from the
		// sandbox took a SYN retransmission (~1 s) to fail (kernel 6.18).
		link, other := "-d 169.254.0.0/16", "-o "+r.BridgePrefix+"+"
		chains = append(chains, chain{name: r.chainName("FORWARD"), hook: dockerUser, rules: []rule{
			{link + " -p tcp -j REJECT --reject-with tcp-reset",
				"link-local, above all cloud metadata at 169.254.169.254"},
			{link + " -j REJECT --reject-with icmp-port-unreachable",
				"link-local, other protocols"},
			{other + " -p tcp -j REJECT --reject-with tcp-reset",
				"another sandbox's bridge: Docker's isolation chains drop it already, this says so"},
			{other + " -j REJECT --reject-with icmp-port-unreachable",
				"another sandbox's bridge, other protocols"},
		}})
	}
	return chains
}

func (r Rules) chainName(suffix string) string {
	if r.Name == "" {
		return DefaultName + "-" + suffix
	}
	return r.Name + "-" + suffix
}

// jump is the hook rule that sends sandbox traffic into c.
func jump(r Rules, c chain) string { return "-i " + r.BridgePrefix + "+ -j " + c.name }

// ports is AllowedPorts sorted, without duplicates.
func ports(r Rules) []int {
	p := slices.Clone(r.AllowedPorts)
	slices.Sort(p)
	return slices.Compact(p)
}

var (
	validPrefix = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,14}$`)
	validName   = regexp.MustCompile(`^([A-Z0-9_]{1,20})?$`) // chain names stay under iptables' 28 characters
)

func (r Rules) validate() error {
	if !validName.MatchString(r.Name) {
		return fmt.Errorf("firewall: name %q: want up to 20 capital letters, digits or '_'", r.Name)
	}
	if !validPrefix.MatchString(r.BridgePrefix) {
		return fmt.Errorf("firewall: bridge prefix %q: want 1-14 letters, digits, '-', '_' or '.'", r.BridgePrefix)
	}
	for _, p := range r.AllowedPorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("firewall: allowed port %d is not a TCP port (1-65535)", p)
		}
	}
	return nil
}

// Ensure installs the rules, idempotently: chains are created if missing and
// refilled only if their content differs; each hook ends up with exactly one
// jump, at position 1. It needs root and a running dockerd (DOCKER-USER).
func Ensure(ctx context.Context, r Rules) error {
	if err := r.validate(); err != nil {
		return err
	}
	fams, err := families()
	if err != nil {
		return err
	}
	// Look before touching anything, so a missing DOCKER-USER leaves nothing
	// half applied.
	snaps := map[family]snapshot{}
	for _, f := range fams {
		s, err := list(ctx, f)
		if err != nil {
			return err
		}
		if err := s.hooksExist(f, plan(r, f)); err != nil {
			return err
		}
		snaps[f] = s
	}
	for _, f := range fams {
		for _, c := range plan(r, f) {
			if err := ensureChain(ctx, f, snaps[f], c); err != nil {
				return err
			}
		}
		for _, c := range plan(r, f) {
			if err := ensureJump(ctx, f, c.hook, jump(r, c)); err != nil {
				return err
			}
		}
	}
	return nil
}

func ensureChain(ctx context.Context, f family, s snapshot, c chain) error {
	got, exists := s[c.name]
	if exists && slices.Equal(got, specs(c)) {
		return nil
	}
	if exists {
		if _, err := run(ctx, f, "-F", c.name); err != nil {
			return err
		}
	} else if _, err := run(ctx, f, "-N", c.name); err != nil {
		return err
	}
	for _, ru := range c.rules {
		if _, err := run(ctx, f, append([]string{"-A", c.name}, strings.Fields(ru.spec)...)...); err != nil {
			return err
		}
	}
	return nil
}

// ensureJump makes j the first rule of hook and its only copy. It inserts
// before deleting, so the chain is never unhooked meanwhile.
func ensureJump(ctx context.Context, f family, hook, j string) error {
	s, err := listChain(ctx, f, hook)
	if err != nil {
		return err
	}
	got := s[hook]
	if len(got) > 0 && got[0] == j && count(got, j) == 1 {
		return nil
	}
	if len(got) == 0 || got[0] != j {
		if _, err := run(ctx, f, append([]string{"-I", hook, "1"}, strings.Fields(j)...)...); err != nil {
			return err
		}
		if s, err = listChain(ctx, f, hook); err != nil {
			return err
		}
		got = s[hook]
	}
	// Delete later copies bottom-up, so rule numbers stay valid.
	for i := len(got) - 1; i > 0; i-- {
		if got[i] == j {
			if _, err := run(ctx, f, "-D", hook, strconv.Itoa(i+1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify reports, precisely, every way the installed rules differ from what
// Ensure(r) installs: a missing chain, rule or jump, an extra or reordered
// rule, a jump that is not first or not alone. nil means all is in place.
func Verify(ctx context.Context, r Rules) error {
	if err := r.validate(); err != nil {
		return err
	}
	fams, err := families()
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range fams {
		s, err := list(ctx, f)
		if err != nil {
			return err
		}
		if err := s.hooksExist(f, plan(r, f)); err != nil {
			return err
		}
		for _, c := range plan(r, f) {
			problems = append(problems, s.check(f, r, c)...)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("firewall: sandbox rules are not in place (call firewall.Ensure again): %s", strings.Join(problems, "; "))
	}
	return nil
}

// check lists what is wrong with chain c and its jump.
func (s snapshot) check(f family, r Rules, c chain) []string {
	var p []string
	got, exists := s[c.name]
	want := specs(c)
	switch {
	case !exists:
		p = append(p, fmt.Sprintf("%s: chain %s is missing", f.name, c.name))
	case !slices.Equal(got, want):
		for _, ru := range c.rules {
			if !slices.Contains(got, ru.spec) {
				p = append(p, fmt.Sprintf("%s: %s lacks rule %q (%s)", f.name, c.name, ru.spec, ru.why))
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				p = append(p, fmt.Sprintf("%s: %s has unexpected rule %q", f.name, c.name, g))
			}
		}
		if len(p) == 0 {
			p = append(p, fmt.Sprintf("%s: %s has its rules out of order or repeated: %q", f.name, c.name, got))
		}
	}
	j := jump(r, c)
	hook := s[c.hook]
	switch n := count(hook, j); {
	case n == 0:
		p = append(p, fmt.Sprintf("%s: %s does not jump to %s (%q)", f.name, c.hook, c.name, j))
	case hook[0] != j:
		p = append(p, fmt.Sprintf("%s: the jump %q is not the first rule of %s, so earlier rules may accept sandbox traffic", f.name, j, c.hook))
	case n > 1:
		p = append(p, fmt.Sprintf("%s: %s jumps to %s %d times", f.name, c.hook, c.name, n))
	}
	return p
}

// Remove deletes every jump to our chains (whatever their bridge prefix) and
// the chains themselves. Nothing installed is not an error.
func Remove(ctx context.Context, r Rules) error {
	fams, err := families()
	if err != nil {
		return err
	}
	for _, f := range fams {
		s, err := list(ctx, f)
		if err != nil {
			return err
		}
		for _, c := range plan(r, f) {
			// Any rule of the hook whose target is our chain, even one
			// installed with another prefix.
			for _, g := range s[c.hook] {
				if strings.HasSuffix(g, " -j "+c.name) {
					if _, err := run(ctx, f, append([]string{"-D", c.hook}, strings.Fields(g)...)...); err != nil {
						return err
					}
				}
			}
			if _, ok := s[c.name]; ok {
				if _, err := run(ctx, f, "-F", c.name); err != nil {
					return err
				}
				if _, err := run(ctx, f, "-X", c.name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// snapshot maps each chain of the filter table to its rules, each rule as
// `iptables -S` prints it after "-A CHAIN ".
type snapshot map[string][]string

func (s snapshot) hooksExist(f family, cs []chain) error {
	for _, c := range cs {
		if _, ok := s[c.hook]; ok {
			continue
		}
		if c.hook == dockerUser {
			return fmt.Errorf("firewall: %s chain %s does not exist yet: dockerd creates it when it starts. "+
				"Start the daemon (scripts/host-setup.sh), then call Ensure again. "+
				"If dockerd is running, it uses the other iptables backend than %q "+
				"(compare `iptables-legacy -S %s` and `iptables-nft -S %s`)", f.name, dockerUser, f.cmd, dockerUser, dockerUser)
		}
		return fmt.Errorf("firewall: %s chain %s does not exist", f.name, c.hook)
	}
	return nil
}

// list reads the whole filter table: one call, and a missing chain is simply
// absent instead of an error whose text differs between backends.
func list(ctx context.Context, f family) (snapshot, error) { return listChain(ctx, f, "") }

func listChain(ctx context.Context, f family, name string) (snapshot, error) {
	args := []string{"-S"}
	if name != "" {
		args = append(args, name)
	}
	out, err := run(ctx, f, args...)
	if err != nil {
		return nil, err
	}
	s := snapshot{}
	for line := range strings.Lines(out) {
		fields := strings.SplitN(strings.TrimSpace(line), " ", 3)
		switch {
		case len(fields) >= 2 && (fields[0] == "-P" || fields[0] == "-N"):
			if _, ok := s[fields[1]]; !ok {
				s[fields[1]] = nil
			}
		case len(fields) == 3 && fields[0] == "-A":
			s[fields[1]] = append(s[fields[1]], fields[2])
		}
	}
	return s, nil
}

func specs(c chain) []string {
	out := make([]string, len(c.rules))
	for i, ru := range c.rules {
		out[i] = ru.spec
	}
	return out
}

func count(list []string, s string) (n int) {
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// families are the iptables commands to manage: IPv4 always, IPv6 when the
// kernel has it.
func families() ([]family, error) {
	fams := []family{ipv4}
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil {
		fams = append(fams, ipv6)
	}
	for _, f := range fams {
		if _, err := exec.LookPath(f.cmd); err != nil {
			return nil, fmt.Errorf("firewall: %s not found in PATH: install it (apt-get install iptables); it must be the iptables dockerd uses", f.cmd)
		}
	}
	return fams, nil
}

// run calls iptables with -w (wait for the xtables lock) on the filter table.
func run(ctx context.Context, f family, args ...string) (string, error) {
	args = append([]string{"-w"}, args...)
	cmd := exec.CommandContext(ctx, f.cmd, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(dropWarnings(stderr.String()))
		if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "you must be root") {
			return "", fmt.Errorf("firewall: %s needs root (CAP_NET_ADMIN); run the server as root: %s", f.cmd, msg)
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("firewall: %s %s: %s", f.cmd, strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}

// dropWarnings removes iptables-nft's "# Warning: iptables-legacy tables
// present" lines, which say nothing about our command.
func dropWarnings(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(line, "# Warning:") {
			b.WriteString(line)
		}
	}
	return b.String()
}
