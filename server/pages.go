package server

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"handson/content"
	"handson/internal/apperr"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// view is what templates see.
type view struct {
	Page   string
	Lang   string // of the page's content (a lab may have no translation)
	UILang string // of the platform's own text
	Path   string // for the language switch to come back to
	User   *store.User

	Error, Username, Next string // login
	Status, Message       string // error page

	Labs  []labItem // index
	Lab   *labView  // lab page
	Steps []stepView

	Data any // a page's own data (classes pages)

	HostDown bool // the lab machines are not ready (the lab page says so)
	Banner   bool // tell an instructor or admin that the host is not ready
}

type labItem struct {
	ID, Title, Duration string
	Done, Total         int
}

type labView struct {
	ID, Title   string
	IntroHTML   template.HTML
	Done, Total int   // steps with a check, passed and in all
	Ports       []int // offered for the web preview
	Preview     bool  // the web preview is on
}

type stepView struct {
	ID, Title string
	HTML      template.HTML
	HasCheck  bool
	Status    string // none, passed, failed
	Message   string
	Hints     []template.HTML
}

// render writes a page; rendering into a buffer first means a template
// error never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, v *view) error {
	if v.User == nil {
		v.User = userOf(r)
	}
	v.UILang = s.uiLang(r)
	if v.Lang == "" {
		v.Lang = v.UILang
	}
	v.Path = r.URL.RequestURI()
	if u := v.User; u != nil && (u.Role == store.RoleInstructor || u.Role == store.RoleAdmin) && v.Page != "status" {
		v.Banner = s.hostDown()
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := buf.WriteTo(w)
	return err
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/labs", http.StatusSeeOther)
	return nil
}

// langs lists the languages the reader prefers for labs, best first:
// ?lang=, the UI language, then the browser's Accept-Language.
func (s *Server) langs(r *http.Request) []string {
	var out []string
	if l := r.URL.Query().Get("lang"); l != "" {
		out = append(out, l)
	}
	return append(append(out, s.uiLang(r)), acceptLanguages(r)...)
}

func (s *Server) labsPage(w http.ResponseWriter, r *http.Request) error {
	u := userOf(r)
	v := &view{Page: "labs"}
	// A student sees the labs their classes work on.
	chosen, all, err := s.Store.StudentLabs(r.Context(), u.ID)
	if err != nil {
		return err
	}
	for _, e := range s.CurrentCourse().Labs() {
		if !all && !chosen[e.ID] {
			continue
		}
		lab := e.In(s.langs(r)...)
		progress, err := s.Store.Progress(r.Context(), u.ID, lab.ID)
		if err != nil {
			return err
		}
		item := labItem{ID: lab.ID, Title: lab.Title, Duration: lab.Duration}
		for _, st := range lab.Steps {
			if st.Check == "" {
				continue
			}
			item.Total++
			if progress[st.ID].Passed {
				item.Done++
			}
		}
		v.Labs = append(v.Labs, item)
	}
	return s.render(w, r, "labs", v)
}

func (s *Server) lab(r *http.Request) (*content.Lab, error) {
	e := s.CurrentCourse().Lab(r.PathValue("lab"))
	if e == nil {
		return nil, apperr.New(apperr.NotFound, "err.lab.none")
	}
	return e.In(s.langs(r)...), nil
}

func (s *Server) labPage(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	// Its students are here: warm sandboxes for the next ones.
	s.Sandboxes.Want(lab.ID, time.Now().Add(sandbox.WarmFor))
	progress, err := s.Store.Progress(r.Context(), userOf(r).ID, lab.ID)
	if err != nil {
		return err
	}
	v := &view{Page: "lab", Lang: lab.Lang, HostDown: s.hostDown(), Lab: &labView{ID: lab.ID, Title: lab.Title, IntroHTML: template.HTML(lab.IntroHTML), Ports: lab.Ports, Preview: s.preview != nil}}
	for _, st := range lab.Steps {
		p := progress[st.ID]
		sv := stepView{ID: st.ID, Title: st.Title, HTML: template.HTML(st.HTML), HasCheck: st.Check != "", Status: "none", Message: p.Last}
		for _, h := range st.Hints {
			sv.Hints = append(sv.Hints, template.HTML(h))
		}
		switch {
		case p.Passed:
			sv.Status = "passed"
		case p.Attempts > 0:
			sv.Status = "failed"
		}
		if sv.HasCheck {
			v.Lab.Total++
			if p.Passed {
				v.Lab.Done++
			}
		}
		v.Steps = append(v.Steps, sv)
	}
	return s.render(w, r, "lab", v)
}
