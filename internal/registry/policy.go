package registry

import (
	"regexp"
	"slices"
	"strings"
)

// User is who asks the token server for access; nil is anonymous.
type User struct {
	Name    string // platform username
	Teacher bool   // instructors and admins pull anything, to see what students pushed
}

// Library is the namespace of the mirrored official images: everyone may
// pull it, nobody may push into it through the token server.
const Library = "library"

// component is one part of a repository name, as distribution's reference
// grammar allows it.
var component = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$`)

// Namespace is the repository namespace of a platform username: the name in
// lower case (usernames are unique regardless of case; repository names
// must be lower case). ok is false when the name cannot be one (distribution's
// grammar), or is "library".
func Namespace(username string) (ns string, ok bool) {
	ns = strings.ToLower(username)
	return ns, ns != Library && component.MatchString(ns)
}

// validRepository reports whether name is a repository name the registry
// would accept: lower-case components separated by '/'.
func validRepository(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if !component.MatchString(c) {
			return false
		}
	}
	return true
}

// Policy says who may do what.
type Policy struct {
	// PullAny lets anyone, anonymous included, pull any repository outside
	// the students' namespaces (pull-through mode: those are Docker Hub's).
	PullAny bool
	// IsNamespace reports whether a namespace belongs to a platform user;
	// used with PullAny only.
	IsNamespace func(ns string) bool
}

// Grant returns the actions of want that u may do on repository name;
// empty when none (the registry then refuses with "denied").
//   - the user's own namespace, <username>/…: push and pull;
//   - library/…: pull, for everyone, anonymous included;
//   - instructors and admins: pull on anything;
//   - nothing else: no delete, no catalog (the platform lists the registry
//     with tokens it makes for itself).
func (p Policy) Grant(u *User, typ, name string, want []string) []string {
	if typ != "repository" || !validRepository(name) {
		return []string{}
	}
	ns, _, _ := strings.Cut(name, "/")
	allowed := map[string]bool{}
	if ns == Library && strings.Contains(name, "/") {
		allowed["pull"] = true
	}
	if u != nil {
		if own, ok := Namespace(u.Name); ok && own == ns && strings.Contains(name, "/") {
			allowed["pull"], allowed["push"] = true, true
		}
		if u.Teacher {
			allowed["pull"] = true
		}
	}
	if p.PullAny && ns != Library && p.IsNamespace != nil && !p.IsNamespace(ns) {
		allowed["pull"] = true
	}
	out := []string{}
	for _, a := range want {
		if allowed[a] && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// parseScope splits "repository:alice/app:push,pull" into its parts. The
// name may hold a ':' (a host with a port); the actions follow the last.
func parseScope(scope string) (typ, name string, actions []string, ok bool) {
	typ, rest, ok := strings.Cut(scope, ":")
	if !ok {
		return "", "", nil, false
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", nil, false
	}
	name = rest[:i]
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a = strings.TrimSpace(a); a != "" {
			actions = append(actions, a)
		}
	}
	return typ, name, actions, name != ""
}
