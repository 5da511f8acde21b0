package server

// The web preview lives in internal/preview; this is its glue: the
// platform's sessions, access rule and sandboxes behind preview.Platform,
// and GET /preview/open, which names the sandbox and hands over to
// preview.Service.Open. Handler sends preview hosts to the Service.

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"handson/internal/apperr"
	"handson/internal/preview"
	"handson/internal/sandbox"
	"handson/internal/store"
)

func (s *Server) newPreview() (*preview.Service, error) {
	secret, err := s.Store.Secret(context.Background(), "preview")
	if err != nil {
		return nil, err
	}
	return preview.New(preview.Config{
		Domain:          s.PreviewDomain,
		Secret:          secret,
		Secure:          s.SecureCookies,
		PlatformCookies: sessionCookieNames[:],
		Platform:        previewPlatform{s},
		Log:             s.Log,
	})
}

// previewPlatform is the platform as the preview sees it.
type previewPlatform struct{ s *Server }

func (p previewPlatform) SessionUser(ctx context.Context, session string) (int64, bool, error) {
	u, err := p.s.Store.UserBySession(ctx, session)
	switch {
	case apperr.Code(err) == apperr.Unauthorized || apperr.Code(err) == apperr.NotFound:
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return u.ID, true, nil
}

// MayPreview: a student's own sandboxes, or as the student's instructor
// (the rule of the terminal viewer).
func (p previewPlatform) MayPreview(ctx context.Context, viewer, student int64) (bool, error) {
	if viewer == student {
		return true, nil
	}
	u, err := p.s.Store.UserByID(ctx, viewer)
	if apperr.Code(err) == apperr.NotFound {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if u.Role != store.RoleInstructor && u.Role != store.RoleAdmin {
		return false, nil
	}
	return p.s.Store.TeachesUser(ctx, u, student)
}

func (p previewPlatform) Addr(ctx context.Context, key sandbox.Key) (netip.Addr, error) {
	return p.s.Sandboxes.Addr(ctx, key)
}

func (p previewPlatform) Touch(key sandbox.Key) { p.s.Sandboxes.Touch(key) }

// openPreview is GET /preview/open?lab=L&port=P[&user=U][&path=/x] on the
// platform: the preview checks access and sends the browser to the
// preview host with a one-time code.
func (s *Server) openPreview(w http.ResponseWriter, r *http.Request) error {
	if s.preview == nil {
		return apperr.New(apperr.NotFound, "err.preview.off")
	}
	q := r.URL.Query()
	entry := s.CurrentCourse().Lab(q.Get("lab"))
	if entry == nil {
		return apperr.New(apperr.NotFound, "err.lab.none")
	}
	port, _ := strconv.Atoi(q.Get("port")) // 0 when missing or bad: Open refuses it
	viewer := userOf(r)
	student := viewer.ID
	if q.Has("user") {
		var err error
		if student, err = strconv.ParseInt(q.Get("user"), 10, 64); err != nil || student <= 0 {
			return apperr.New(apperr.Invalid, "err.preview.user")
		}
	}
	back := "/labs/" + url.PathEscape(entry.ID)
	if student != viewer.ID {
		back = "/classes"
	}
	return s.preview.Open(w, r, preview.Opening{
		Viewer: viewer.ID, Session: sessionOf(r), Key: sandbox.Key{UserID: student, Lab: entry.ID},
		Port: port, Path: q.Get("path"), Lang: s.uiLang(r), Back: back,
	})
}
