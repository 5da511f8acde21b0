package platform

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/registry"
	"handson/internal/sandbox/docker"
	"handson/internal/store"
)

// startRegistry runs the classroom registry listening on addr, with the
// store's users and access tokens, and gives every sandbox the engine
// makes from now on its name, address and mirror.
func startRegistry(ctx context.Context, db *store.DB, engine *docker.Engine, addr, upstream, keyDir string, log *slog.Logger) (*registry.Registry, error) {
	reg, err := registry.Start(ctx, registry.Options{
		Instance:    engine.Instance(),
		Addr:        addr,
		KeyDir:      keyDir,
		Upstream:    upstream,
		Auth:        registryAuth(db),
		IsNamespace: isNamespace(db),
		Log:         log,
	})
	if err != nil {
		return nil, err
	}
	engine.SandboxHosts = reg.SandboxHosts()
	engine.SandboxEnv = reg.SandboxEnv()
	return reg, nil
}

// registryAuth checks docker login's username and access token against
// the store; instructors and admins may pull every namespace.
func registryAuth(db *store.DB) registry.Authenticator {
	return func(ctx context.Context, username, token string) (*registry.User, error) {
		u, err := db.UserByAccessToken(ctx, username, token)
		if apperr.Code(err) == apperr.Unauthorized {
			return nil, registry.ErrBadCredentials
		}
		if err != nil {
			return nil, err
		}
		return &registry.User{Name: u.Username, Teacher: u.Role == store.RoleInstructor || u.Role == store.RoleAdmin}, nil
	}
}

// isNamespace reports whether a namespace is a user's; on a store error it
// says yes, which keeps the repository in the class registry.
func isNamespace(db *store.DB) func(string) bool {
	return func(ns string) bool {
		_, err := db.UserByUsername(context.Background(), ns)
		return apperr.Code(err) != apperr.NotFound
	}
}

// TestRegistry is a classroom registry for handson lab test, handson
// doctor and the tests: its own database with one student and an access token, its own
// address of this host (registry.PrivateAddr) with the port servers use,
// the machine's registry volume.
type TestRegistry struct {
	*registry.Registry
	User, Token string
	db          *store.DB
	dir         string
	removeAddr  func(context.Context) error
}

// StartTestRegistry starts a TestRegistry for engine's sandboxes on port.
func StartTestRegistry(ctx context.Context, engine *docker.Engine, port int, upstream string, log *slog.Logger) (_ *TestRegistry, err error) {
	dir, err := os.MkdirTemp("", "handson-registry-")
	if err != nil {
		return nil, err
	}
	t := &TestRegistry{dir: dir, User: engine.Instance()} // "labtest-1a2b3c4d": a valid namespace
	defer func() {
		if err != nil {
			t.Close(context.WithoutCancel(ctx))
		}
	}()
	if t.db, err = store.Open(ctx, filepath.Join(dir, "handson.db")); err != nil {
		return nil, err
	}
	u := &store.User{Username: t.User, PasswordHash: "!", Role: store.RoleStudent} // "!": no password logs in
	if err := t.db.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	t.Token = auth.NewAccessToken()
	if err := t.db.CreateAccessToken(ctx, &store.AccessToken{UserID: u.ID, Name: "lab test"}, t.Token); err != nil {
		return nil, err
	}
	addr, remove, err := registry.PrivateAddr(ctx, "handson-"+engine.Instance()+"-registry", port)
	if err != nil {
		return nil, err
	}
	t.removeAddr = remove
	if t.Registry, err = startRegistry(ctx, t.db, engine, addr, upstream, filepath.Join(dir, "keys"), log); err != nil {
		return nil, err
	}
	return t, nil
}

// Close removes the test user's pushes, the registry container, its
// address and the temporary database.
func (t *TestRegistry) Close(ctx context.Context) error {
	var errs []error
	if t.Registry != nil {
		errs = append(errs, t.Forget(ctx, t.User), t.Registry.Close(ctx))
	}
	if t.removeAddr != nil {
		errs = append(errs, t.removeAddr(ctx))
	}
	if t.db != nil {
		errs = append(errs, t.db.Close())
	}
	errs = append(errs, os.RemoveAll(t.dir))
	return errors.Join(errs...)
}
