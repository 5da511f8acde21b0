package server

import "golang.org/x/crypto/bcrypt"

// testHash is a password hash for a test's users, at bcrypt's lowest cost:
// logging in checks it, and under -race (make test) the default cost takes
// about a second per check.
func testHash(password string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}
