package registry

import (
	"handson/internal/imageref"
	"slices"
	"strings"
)

// User is who asks the token server for access; nil is anonymous.
type User struct {
	Name    string // platform username
	Teacher bool   // instructors and admins pull anything, to see what students pushed
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
	if typ != "repository" || !imageref.ValidRepository(name) {
		return []string{}
	}
	ns, _, _ := strings.Cut(name, "/")
	allowed := map[string]bool{}
	if ns == imageref.Library && strings.Contains(name, "/") {
		allowed["pull"] = true
	}
	if u != nil {
		if own, ok := imageref.Namespace(u.Name); ok && own == ns && strings.Contains(name, "/") {
			allowed["pull"], allowed["push"] = true, true
		}
		if u.Teacher {
			allowed["pull"] = true
		}
	}
	if p.PullAny && ns != imageref.Library && p.IsNamespace != nil && !p.IsNamespace(ns) {
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
