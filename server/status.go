package server

import (
	"net/http"
	"slices"
	"time"

	"handson/internal/i18n"
	"handson/internal/preflight"
)

// HostStatus is whether the host can run sandboxes (preflight.Monitor).
type HostStatus interface {
	Report() *preflight.Report // nil until the first checks end
	Running() bool
	Recheck()
}

// hostDown reports whether the last checks of the host failed: no sandbox
// starts, and students are told so instead of getting a terminal.
func (s *Server) hostDown() bool {
	if s.Host == nil {
		return false
	}
	r := s.Host.Report()
	return r != nil && !r.Ready()
}

// statusView is the status page's data.
type statusView struct {
	Pending, Ready, Running bool
	Checked                 string
	Checks                  []checkView
	Broken                  []brokenView
	Starts, Room            string // the start queue now; how many more sandboxes fit
}

type checkView struct {
	ID, Status, StatusText, Name, Found, Detail, Fix, Stages string
	Took                                                     time.Duration
}

type brokenView struct {
	User  int64
	Lab   string
	Cause string
}

// statusPage shows instructors and admins what the host checks found, with
// each fix, and the sandboxes whose Docker could not start.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) error {
	lang := s.uiLang(r)
	d := &statusView{Pending: true}
	if s.Host != nil {
		d.Running = s.Host.Running()
		if rep := s.Host.Report(); rep != nil {
			d.Pending, d.Ready = false, rep.Ready()
			d.Checked = i18n.T(lang, "status.checked", rep.At.Local().Format("2006-01-02 15:04:05"), rep.Took.Round(100*time.Millisecond).String())
			for _, c := range rep.Checks {
				cv := checkView{ID: c.ID, Status: string(c.Status), StatusText: i18n.T(lang, "status."+string(c.Status)),
					Name: i18n.T(lang, "preflight."+c.ID), Found: i18n.T(lang, c.Key, c.Args...), Detail: c.Detail, Took: c.Took.Round(time.Millisecond)}
				if c.Fix != "" && c.Status != preflight.OK {
					cv.Fix = i18n.T(lang, c.Fix)
				}
				for i, st := range c.Stages {
					if i > 0 {
						cv.Stages += ", "
					}
					cv.Stages += i18n.T(lang, "preflight.stage."+st.Name) + " " + st.Took.Round(10*time.Millisecond).String()
					if !st.Done {
						cv.Stages += " ✗"
					}
				}
				d.Checks = append(d.Checks, cv)
			}
		}
	}
	for key, cause := range s.Sandboxes.BrokenSandboxes() {
		d.Broken = append(d.Broken, brokenView{User: key.UserID, Lab: key.Lab, Cause: cause})
	}
	slices.SortFunc(d.Broken, func(a, b brokenView) int { return int(a.User - b.User) })
	running, waiting, avg := s.Sandboxes.StartLoad()
	d.Starts = i18n.T(lang, "status.starts", running, waiting, avg.Round(100*time.Millisecond).String())
	if n, per, ok := s.Sandboxes.Room(); ok {
		d.Room = i18n.T(lang, "status.room", n, preflight.Bytes(per))
	}
	return s.render(w, r, "status", &view{Page: "status", Data: d})
}

// recheck runs the host checks again now.
func (s *Server) recheck(w http.ResponseWriter, r *http.Request) error {
	if s.Host != nil {
		s.Host.Recheck()
	}
	http.Redirect(w, r, "/admin/status", http.StatusSeeOther)
	return nil
}
