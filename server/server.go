// Package server is the HTTP and websocket adapter: pages, the check API
// and the terminal.
package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"handson/content"
	"handson/frontend"
	"handson/internal/i18n"
	"handson/internal/labrun"
	"handson/internal/preview"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/terminal"
)

// Server serves the platform.
type Server struct {
	Store     *store.DB
	Course    *content.Course // the course at start; SetCourse replaces it
	Sandboxes *sandbox.Manager
	Labs      *labrun.Runner // runs checks; knows the sandbox of each lab
	Log       *slog.Logger
	// Registry is the classroom registry; nil when the server runs none.
	Registry ClassRegistry
	// Host says whether the host can run sandboxes; nil: assume it can.
	Host HostStatus

	// Terminals holds the terminal sessions, which belong to the server,
	// not to a websocket; Handler makes one with defaults if nil.
	Terminals *terminal.Sessions

	// SecureCookies marks cookies Secure and gives the session cookie the
	// __Host- prefix; on when the platform is served over TLS.
	SecureCookies bool
	SessionTTL    time.Duration
	// PreviewDomain ("preview.localhost", or "preview.example.net[:port]"
	// behind a wildcard DNS name) serves the web preview on <port>-<id>.
	// PreviewDomain; empty turns the preview off (internal/preview).
	PreviewDomain string

	live       atomic.Pointer[content.Course] // set by SetCourse
	pages      map[string]*template.Template
	upgrader   websocket.Upgrader
	http       *http.Server
	ln         net.Listener
	stop       context.CancelFunc // ends every request, terminals included
	base       context.Context    // what stop ends: work that outlives a request
	prepares   preparations       // classes' sandboxes started ahead of a lesson
	dashboards hub                // attempts to class dashboards
	preview    *preview.Service   // nil: the web preview is off
	// Failed logins: a class shares one address, an attacker may use many.
	loginsByIP, loginsByUser *limiter
	terminals                sync.WaitGroup
}

// Open listens on addr first and then serves, so ":0" works in tests and a
// busy port is reported at once.
func (s *Server) Open(addr string) error {
	h, err := s.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	// Hijacked websockets outlive Shutdown; a base context that Close
	// cancels reaches them too.
	base, stop := context.WithCancel(context.Background())
	s.base, s.stop = base, stop
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("serve", "err", err)
		}
	}()
	return nil
}

// SetCourse replaces the course while serving (handson serve --dev
// re-reads the labs when they change); requests see the old or the new
// course whole.
func (s *Server) SetCourse(c *content.Course) { s.live.Store(c) }

// CurrentCourse is the course being served.
func (s *Server) CurrentCourse() *content.Course {
	if c := s.live.Load(); c != nil {
		return c
	}
	return s.Course
}

// URL is where the server listens.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops accepting requests, waits for running ones until ctx ends,
// then closes open terminals and waits for them.
func (s *Server) Close(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	s.stop()
	s.prepareWait(ctx)
	s.Terminals.Close()
	done := make(chan struct{})
	go func() { s.terminals.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// Handler builds the routes.
func (s *Server) Handler() (http.Handler, error) {
	if s.SessionTTL == 0 {
		s.SessionTTL = 14 * 24 * time.Hour
	}
	s.loginsByIP = newLimiter(time.Second, 100)
	s.loginsByUser = newLimiter(6*time.Second, 10)
	if s.Terminals == nil {
		s.Terminals = terminal.NewSessions(terminal.Config{Log: s.Log})
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	if _, err := fs.Stat(frontend.Dist, "app.js"); err != nil {
		return nil, fmt.Errorf("frontend bundle missing (run `make build`): %w", err)
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  32 << 10,
		WriteBufferSize: 32 << 10,
		CheckOrigin:     sameOrigin,
	}

	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(frontend.Dist)))
	highlight := []byte(content.HighlightCSS())
	mux.HandleFunc("GET /highlight.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(highlight)
	})
	for _, icon := range []struct{ name, contentType string }{{"favicon.ico", "image/x-icon"}, {"favicon.svg", "image/svg+xml"}} {
		b, err := fs.ReadFile(frontend.Icons, icon.name)
		if err != nil {
			return nil, fmt.Errorf("icon missing: %w", err)
		}
		mux.Handle("GET /"+icon.name, staticFile(b, icon.contentType))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /login", s.page(s.loginPage))
	mux.Handle("POST /login", s.page(s.login))
	mux.Handle("POST /logout", s.page(s.logout))
	mux.Handle("POST /lang", s.page(s.setLang))
	mux.Handle("GET /register", s.page(s.registerPage))
	mux.Handle("POST /register", s.page(s.register))
	mux.Handle("GET /{$}", s.page(s.authed(s.home)))
	mux.Handle("GET /classes", s.page(s.authed(s.teacher(s.classesPage))))
	mux.Handle("POST /classes", s.page(s.authed(s.teacher(s.createClass))))
	mux.Handle("GET /classes/{class}", s.page(s.authed(s.teacher(s.classPage))))
	mux.Handle("GET /classes/{class}/labs/{lab}", s.page(s.authed(s.teacher(s.labStatsPage))))
	mux.Handle("GET /classes/{class}/events", s.api(s.authed(s.teacher(s.classEvents))))
	mux.Handle("GET /classes/{class}/grades.csv", s.page(s.authed(s.teacher(s.grades))))
	mux.Handle("POST /classes/{class}/labs", s.page(s.authed(s.teacher(s.chooseLabs))))
	mux.Handle("POST /classes/{class}/record", s.page(s.authed(s.teacher(s.setRecord))))
	mux.Handle("POST /classes/{class}/prepare", s.page(s.authed(s.teacher(s.prepareClass))))
	mux.Handle("GET /classes/{class}/prepare", s.api(s.authed(s.teacher(s.prepareStatus))))
	mux.Handle("GET /classes/{class}/members/{user}/recordings/{file...}", s.page(s.authed(s.teacher(s.recording))))
	mux.Handle("POST /classes/{class}/roster", s.page(s.authed(s.teacher(s.importRoster))))
	mux.Handle("GET /classes/{class}/members/{user}", s.page(s.authed(s.teacher(s.studentPage))))
	mux.Handle("GET /classes/{class}/members/{user}/labs/{lab}/terminal", s.page(s.authed(s.teacher(s.watchPage))))
	mux.Handle("POST /classes/{class}/members/{user}/password", s.page(s.authed(s.teacher(s.resetPassword))))
	mux.Handle("POST /classes/{class}/members/{user}/labs/{lab}/reset", s.page(s.authed(s.teacher(s.resetStudentSandbox))))
	mux.Handle("GET /admin/status", s.page(s.authed(s.teacher(s.statusPage))))
	mux.Handle("POST /admin/status/recheck", s.page(s.authed(s.teacher(s.recheck))))
	mux.Handle("GET /account/tokens", s.page(s.authed(s.tokensPage)))
	mux.Handle("POST /account/tokens", s.page(s.authed(s.createToken)))
	mux.Handle("POST /account/tokens/{token}/revoke", s.page(s.authed(s.revokeToken)))
	mux.Handle("GET /labs", s.page(s.authed(s.labsPage)))
	mux.Handle("GET /labs/{lab}", s.page(s.authed(s.labPage)))
	mux.Handle("POST /api/labs/{lab}/steps/{step}/check", s.api(s.authed(s.check)))
	mux.Handle("GET /api/labs/{lab}/terminal", s.api(s.authed(s.terminal)))
	mux.Handle("GET /api/labs/{lab}/events", s.api(s.authed(s.events)))
	mux.Handle("POST /api/labs/{lab}/reset", s.api(s.authed(s.reset)))
	mux.Handle("GET /preview/open", s.page(s.authed(s.openPreview)))

	// Browsers send Sec-Fetch-Site/Origin; a cross-site form or fetch that
	// tries to change state is refused before any handler runs.
	csrf := http.NewCrossOriginProtection()
	platform := s.recoverPanics(securityHeaders(csrf.Handler(mux)))
	if s.PreviewDomain == "" {
		return platform, nil
	}
	var err error
	if s.preview, err = s.newPreview(); err != nil {
		return nil, err
	}
	// By Host, before anything else: a preview host never reaches the
	// platform's routes (nor its cookies' pages), the platform's host
	// never reaches a sandbox.
	previews := s.recoverPanics(s.preview)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.preview.IsPreviewHost(r.Host) {
			previews.ServeHTTP(w, r)
			return
		}
		platform.ServeHTTP(w, r)
	}), nil
}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"login", "register", "labs", "lab", "classes", "class", "labstats", "student", "watch", "tokens", "status", "error"} {
		t, err := template.New(name).Funcs(template.FuncMap{"t": tr, "count": i18n.Count, "messages": i18n.Browser, "usernamePattern": func() string { return usernamePattern }}).ParseFS(frontend.Templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// staticFile serves content that changes only with a release.
func staticFile(content []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(content)
	})
}

// securityHeaders keeps the platform's pages out of frames and stops
// browsers guessing content types.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic", "path", r.URL.Path, "panic", v)
				http.Error(w, "Internal error.", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
