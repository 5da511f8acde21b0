package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"handson/internal/imageref"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// Defaults of a classroom registry.
const (
	// HostName is the registry's name inside every sandbox (its /etc/hosts).
	HostName = "registry.handson"
	// DefaultImage is built by scripts/build-images.sh (labs/images/registry).
	DefaultImage = "handson/registry:latest"
	// DefaultVolume holds the images, one per machine; scripts/seed-registry.sh
	// fills it with the course's library/ images.
	DefaultVolume = "handson-registry"
	// CacheVolume holds the pull-through cache of the upstream (Options.Upstream).
	CacheVolume = "handson-registry-cache"
	// Service and Issuer name the token's audience and issuer.
	Service = "handson-registry"
	Issuer  = "handson"
)

// Options say how to run a registry.
type Options struct {
	// Instance names this installation: containers are
	// handson-<instance>-registry (and …-registry-cache).
	Instance string
	// Addr is where sandboxes reach the platform's registry listener
	// (tokens and /v2/), an address of this host: "172.17.0.1:5000".
	Addr string
	// KeyDir keeps the token signing key and its certificate (made once).
	KeyDir string
	// Image and Volume of the registry container, CacheVolume of the
	// pull-through cache; defaults as above.
	Image, Volume, CacheVolume string
	// Upstream, e.g. https://registry-1.docker.io, adds a pull-through
	// cache of it (a second container: distribution refuses pushes in proxy
	// mode) for every repository outside the students' namespaces.
	Upstream string
	// Auth checks docker login's credentials.
	Auth Authenticator
	// IsNamespace reports whether a namespace belongs to a platform user
	// (needed with Upstream: those stay in the class registry).
	IsNamespace func(ns string) bool
	Log         *slog.Logger
}

// Registry is a running classroom registry: the registry container(s) and
// the listener sandboxes talk to.
type Registry struct {
	opts   Options
	cli    *client.Client
	signer *Signer
	tokens *TokenServer
	main   *supervised
	cache  *supervised // nil without Upstream
	host   string      // HostName:port
	srv    *http.Server
	ln     net.Listener
	stop   context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status Status
}

// Status is what the platform knows of the registry's health.
type Status struct {
	Ready   bool
	Problem string   // what is wrong, for the operator; "" when ready
	Library []string // repositories under library/ (the seeded images)
	Checked time.Time
}

// Start runs the registry container, adopting one left running by an
// earlier start, and listens on opts.Addr. It fails at once with a clear
// error when the image is missing, the address cannot be bound or the
// registry does not answer.
func Start(ctx context.Context, opts Options) (_ *Registry, err error) {
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	if opts.Volume == "" {
		opts.Volume = DefaultVolume
	}
	if opts.CacheVolume == "" {
		opts.CacheVolume = CacheVolume
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return nil, fmt.Errorf("registry address %q: want IP:port, with an IP of this host that sandboxes reach (the docker0 address, 172.17.0.1)", opts.Addr)
	}
	signer, err := LoadSigner(opts.KeyDir, Issuer, Service)
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	defer func() {
		if err != nil {
			cli.Close()
		}
	}()
	r := &Registry{opts: opts, cli: cli, signer: signer, host: HostName + ":" + port, done: make(chan struct{})}
	r.tokens = &TokenServer{Signer: signer, Auth: opts.Auth, Log: opts.Log,
		Policy: Policy{PullAny: opts.Upstream != "", IsNamespace: opts.IsNamespace}}

	realm := "http://" + opts.Addr + "/token"
	name := "handson-" + opts.Instance + "-registry"
	r.main = &supervised{cli: cli, log: opts.Log, spec: containerSpec{
		Name: name, Image: opts.Image, Volume: opts.Volume, Instance: opts.Instance,
		Files: map[string][]byte{"config.yml": configYAML(realm, signer.Secret(), ""), certFile: signer.CertPEM()},
	}}
	if opts.Upstream != "" {
		if u, err := url.Parse(opts.Upstream); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("registry upstream %q: want a URL such as https://registry-1.docker.io", opts.Upstream)
		}
		if opts.IsNamespace == nil {
			return nil, errors.New("registry upstream needs IsNamespace")
		}
		r.cache = &supervised{cli: cli, log: opts.Log, spec: containerSpec{
			Name: name + "-cache", Image: opts.Image, Volume: opts.CacheVolume, Instance: opts.Instance,
			Files: map[string][]byte{"config.yml": configYAML(realm, signer.Secret(), opts.Upstream), certFile: signer.CertPEM()},
		}}
	}

	for _, c := range r.containers() {
		addr, err := c.ensure(ctx)
		if err != nil {
			return nil, err
		}
		waitAnswer(ctx, addr, 15*time.Second) // a fresh container listens a moment after it starts
	}
	if err := r.check(ctx, true); err != nil {
		return nil, fmt.Errorf("the registry container does not answer: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("registry listener: %w (is another handson using this address? -registry-addr sets another; \"\" runs without a registry)", err)
	}
	r.ln = ln
	r.srv = &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go r.srv.Serve(ln)
	runCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go r.watch(runCtx)
	return r, nil
}

// configYAML is the registry's config.yml (distribution's version 0.1):
// token auth with the platform as token server; with upstream, a
// pull-through cache of it.
func configYAML(realm, secret, upstream string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  # warn would log every request without a token (each pull starts so);
  # the access log still has one line per request.
  level: error
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: false
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
http:
  addr: :5000
  secret: %q
  relativeurls: true
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  token:
    realm: %q
    service: %q
    issuer: %q
    rootcertbundle: %s
`, dataDir, secret, realm, Service, Issuer, filepath.Join(configDir, certFile))
	if upstream != "" {
		fmt.Fprintf(&b, "proxy:\n  remoteurl: %q\n", upstream)
	}
	return []byte(b.String())
}

func (r *Registry) containers() []*supervised {
	if r.cache != nil {
		return []*supervised{r.main, r.cache}
	}
	return []*supervised{r.main}
}

// Address is what students type: registry.handson:<port>.
func (r *Registry) Address() string { return r.host }

// URL is where the listener answers, for the platform's own tests.
func (r *Registry) URL() string { return "http://" + r.ln.Addr().String() }

// SandboxHosts are the /etc/hosts entries every sandbox gets.
func (r *Registry) SandboxHosts() []string {
	host, _, _ := net.SplitHostPort(r.opts.Addr)
	return []string{HostName + ":" + host}
}

// SandboxEnv is the environment every sandbox gets when it is made (a warm
// sandbox has no owner yet: nothing here is per user). The image's init
// makes HANDSON_REGISTRY_MIRROR the inner dockerd's registry mirror and
// insecure registry.
func (r *Registry) SandboxEnv() []string {
	return []string{"REGISTRY=" + r.host, "HANDSON_REGISTRY_MIRROR=http://" + r.host}
}

// Status reports the last health check.
func (r *Registry) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Close stops the listener and removes the registry container(s); the
// images stay in the volume.
func (r *Registry) Close(ctx context.Context) error {
	r.stop()
	<-r.done
	err := r.srv.Shutdown(ctx)
	for _, c := range r.containers() {
		if cerr := c.remove(ctx); err == nil {
			err = cerr
		}
	}
	r.cli.Close()
	return err
}

// watch checks the containers every few seconds: it starts a stopped one
// again, makes a missing one, and logs each change of health. It lists
// the library/ images once a minute.
func (r *Registry) watch(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	lastList := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		restarted := false
		for _, c := range r.containers() {
			if addr := c.current(); addr != "" && ping(cctx, addr) == nil {
				continue
			}
			addr, err := c.ensure(cctx)
			if err != nil {
				if ctx.Err() == nil {
					r.setProblem(err.Error())
				}
				continue
			}
			waitAnswer(cctx, addr, 15*time.Second)
			restarted = true
		}
		list := restarted || !r.Status().Ready || time.Since(lastList) > time.Minute
		if list {
			lastList = time.Now()
		}
		r.check(cctx, list)
		cancel()
	}
}

func (r *Registry) setProblem(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.Problem != p {
		r.opts.Log.Error("classroom registry is not working: students' docker pull, push and login fail", "problem", p)
	}
	r.status.Ready, r.status.Problem, r.status.Checked = false, p, time.Now()
}

// check asks each container whether it answers as a token-auth registry
// and, with list, lists the seeded library/ images; it logs what changed.
func (r *Registry) check(ctx context.Context, list bool) error {
	for _, c := range r.containers() {
		addr := c.current()
		if addr == "" {
			err := fmt.Errorf("%s: %w", c.spec.Name, errNotRunning)
			r.setProblem(err.Error())
			return err
		}
		if err := ping(ctx, addr); err != nil {
			err = fmt.Errorf("%s: %w; its last log lines: %s", c.spec.Name, err, c.logs(ctx))
			r.setProblem(err.Error())
			return err
		}
	}
	if !list {
		r.mu.Lock()
		r.status.Checked = time.Now()
		r.mu.Unlock()
		return nil
	}
	lib, err := r.repositories(ctx, imageref.Library+"/")
	if err != nil {
		r.setProblem(err.Error())
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.status.Ready || !slices.Equal(r.status.Library, lib) {
		if len(lib) == 0 && r.cache == nil {
			r.opts.Log.Warn("classroom registry answers, but its volume has no library/ images: docker pull in sandboxes fails offline; run scripts/seed-registry.sh",
				"volume", r.opts.Volume)
		} else {
			r.opts.Log.Info("classroom registry ready", "address", r.host, "listen", r.opts.Addr, "library", strings.Join(lib, " "), "upstream", r.opts.Upstream)
		}
	}
	r.status = Status{Ready: true, Library: lib, Checked: time.Now()}
	return nil
}

// ping expects the registry's API root to ask for a token: 200 would mean
// it runs without auth, anything else that it is broken.
func ping(ctx context.Context, addr string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("it does not answer: %w", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized && strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer "):
		return nil
	case res.StatusCode == http.StatusOK:
		return errors.New("it answers without authentication: its config.yml has no token auth")
	}
	return fmt.Errorf("GET /v2/ answered %s", res.Status)
}

// Pushed lists the repositories under namespace/ (what a student pushed)
// with their tags.
func (r *Registry) Pushed(ctx context.Context, namespace string) ([]imageref.Repository, error) {
	names, err := r.repositories(ctx, namespace+"/")
	if err != nil {
		return nil, err
	}
	out := make([]imageref.Repository, 0, len(names))
	for _, name := range names {
		var body struct {
			Tags []string `json:"tags"`
		}
		if err := r.get(ctx, "/v2/"+name+"/tags/list", Access{Type: "repository", Name: name, Actions: []string{"pull"}}, &body, nil); err != nil {
			return nil, err
		}
		slices.Sort(body.Tags)
		out = append(out, imageref.Repository{Name: name, Tags: body.Tags})
	}
	return out, nil
}

// repositories lists the class registry's repositories that start with
// prefix, through its catalog, with a token the platform makes for itself
// (only the platform may read the catalog).
func (r *Registry) repositories(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	last := ""
	for range 1000 {
		q := url.Values{"n": {"1000"}}
		if last != "" {
			q.Set("last", last)
		}
		var body struct {
			Repositories []string `json:"repositories"`
		}
		var more bool
		if err := r.get(ctx, "/v2/_catalog?"+q.Encode(), Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}, &body, &more); err != nil {
			return nil, err
		}
		for _, name := range body.Repositories {
			if strings.HasPrefix(name, prefix) {
				out = append(out, name)
			}
		}
		if !more || len(body.Repositories) == 0 {
			break
		}
		last = body.Repositories[len(body.Repositories)-1]
	}
	return out, nil
}

// get fetches a JSON document from the class registry with a token for
// access; more reports a Link to a next page.
func (r *Registry) get(ctx context.Context, path string, access Access, v any, more *bool) error {
	addr := r.main.current()
	if addr == "" {
		return errNotRunning
	}
	tok, err := r.signer.Sign("handson-platform", []Access{access}, time.Minute)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound && strings.HasSuffix(path, "/tags/list") {
		return nil // a repository whose tags are all gone
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("registry GET %s: %s %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	if more != nil {
		*more = strings.Contains(res.Header.Get("Link"), `rel="next"`)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 16<<20)).Decode(v)
}

// Handler serves what sandboxes reach: /token and the registry API /v2/,
// proxied to the registry container (or, with an upstream, to the cache for
// repositories outside the students' namespaces).
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/token", r.tokens)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := r.main
			if r.cache != nil && r.toCache(pr.In.URL.Path) {
				target = r.cache
			}
			pr.SetURL(&url.URL{Scheme: "http", Host: target.current()})
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		FlushInterval: -1, // stream blobs as they come
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			msg := "the classroom registry is not running; tell your instructor"
			if st := r.Status(); st.Problem != "" {
				msg += " (" + st.Problem + ")"
			}
			r.opts.Log.Error("classroom registry: proxying failed", "path", req.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAVAILABLE", "message": msg}}})
		},
	}
	mux.Handle("/v2/", proxy)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "handson classroom registry: use docker login, push and pull with "+r.host, http.StatusNotFound)
	})
	return mux
}

// toCache reports whether a /v2/ path is for the pull-through cache:
// repositories outside the students' namespaces.
func (r *Registry) toCache(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok || rest == "" || rest == "_catalog" {
		return false
	}
	ns, _, _ := strings.Cut(rest, "/")
	return !r.opts.IsNamespace(ns)
}

// PortOf returns the port of a host:port address, 0 if it has none.
func PortOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Forget deletes a namespace's repositories from the registry's storage:
// handson lab test and the tests clean up their test user's pushes with
// it. The layers stay until a garbage collection
// (docker-registry garbage-collect).
func (r *Registry) Forget(ctx context.Context, namespace string) error {
	if ns, ok := imageref.Namespace(namespace); !ok || ns != namespace {
		return fmt.Errorf("forget %q: not a namespace", namespace)
	}
	return r.forget(ctx, namespace)
}

// forget deletes a repository, or all under a namespace, from storage.
func (r *Registry) forget(ctx context.Context, ns string) error {
	if !imageref.ValidRepository(ns) {
		return fmt.Errorf("forget %q: not a repository name", ns)
	}
	created, err := r.cli.ExecCreate(ctx, r.main.spec.Name, client.ExecCreateOptions{
		AttachStdout: true, AttachStderr: true,
		Cmd: []string{"rm", "-rf", dataDir + "/docker/registry/v2/repositories/" + ns},
	})
	if err != nil {
		return fmt.Errorf("forget %s: %w", ns, err)
	}
	att, err := r.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("forget %s: %w", ns, err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	insp, err := r.cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("forget %s: %w", ns, err)
	}
	if insp.ExitCode != 0 {
		return fmt.Errorf("forget %s: rm exited %d: %s", ns, insp.ExitCode, strings.TrimSpace(string(out)))
	}
	return nil
}
