// Package imageref is the naming of images in the classroom registry: which
// repository names are valid, and under which namespace a user pushes. The
// pages need it as much as the registry does, without the registry's
// Docker client.
package imageref

import (
	"regexp"
	"strings"
)

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

// ValidRepository reports whether name is a repository name the registry
// would accept: lower-case components separated by '/'.
func ValidRepository(name string) bool {
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

// Repository is a repository and its tags.
type Repository struct {
	Name string
	Tags []string
}
