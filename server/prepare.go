package server

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"handson/content"
	"handson/internal/apperr"
	"handson/internal/i18n"
	"handson/internal/preflight"
	"handson/internal/sandbox"
	"handson/internal/store"
	"handson/internal/terminal"
)

// preparation is a class's sandboxes of one lab started ahead of the
// lesson: one per student, claimed by that student (their own sandbox, not
// a pool), paced by the start queue and its memory check. A sandbox nobody
// opens is stopped by the idle policy like any other.
type preparation struct {
	Lab     string    `json:"lab"`
	Total   int       `json:"total"`
	Ready   int       `json:"ready"`
	Failed  int       `json:"failed"`
	Started time.Time `json:"started"`
	Took    float64   `json:"took,omitempty"` // seconds, once done
	Done    bool      `json:"done"`
}

// text says where p stands, as the class page's script does.
func (p preparation) text(lang string) string {
	if p.Done {
		return i18n.T(lang, "web.class.prepare.done", p.Lab, p.Ready, p.Total, p.Failed, int(math.Round(p.Took)))
	}
	return i18n.T(lang, "web.class.prepare.running", p.Lab, p.Ready, p.Total, p.Failed)
}

// preparations are the classes' preparations, the last one of each.
type preparations struct {
	mu      sync.Mutex
	byClass map[int64]*preparation
	wg      sync.WaitGroup
}

func (p *preparations) get(class int64) (preparation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr := p.byClass[class]; pr != nil {
		return *pr, true
	}
	return preparation{}, false
}

// begin makes pr the class's preparation unless one is running.
func (p *preparations) begin(class int64, pr *preparation) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.byClass[class]; old != nil && !old.Done {
		return false
	}
	if p.byClass == nil {
		p.byClass = map[int64]*preparation{}
	}
	p.byClass[class] = pr
	return true
}

// prepareClass starts the sandboxes of a lab for every student of the
// class now, after checking that memory takes them.
func (s *Server) prepareClass(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	lab := s.CurrentCourse().Lab(r.FormValue("lab"))
	if lab == nil {
		return apperr.New(apperr.NotFound, "err.lab.none")
	}
	if pr, ok := s.prepares.get(c.ID); ok && !pr.Done {
		return apperr.New(apperr.Conflict, "err.prepare.running")
	}
	members, err := s.Store.Members(r.Context(), c.ID)
	if err != nil {
		return err
	}
	var keys []sandbox.Key
	students := map[sandbox.Key]store.Member{}
	for _, m := range members {
		if m.ClassRole != store.RoleStudent {
			continue
		}
		key := sandbox.Key{UserID: m.ID, Lab: lab.ID}
		students[key] = m
		st, err := s.Sandboxes.Status(r.Context(), key)
		if err != nil {
			return err
		}
		if st.State != sandbox.Running {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return apperr.New(apperr.Invalid, "err.prepare.none")
	}
	if room, per, ok := s.Sandboxes.Room(); ok && room < len(keys) {
		return apperr.New(apperr.Unavailable, "err.prepare.memory", len(keys), room, preflight.Bytes(per))
	}
	pr := &preparation{Lab: lab.ID, Total: len(keys), Started: time.Now()}
	if !s.prepares.begin(c.ID, pr) { // another request began one meanwhile
		return apperr.New(apperr.Conflict, "err.prepare.running")
	}
	s.Log.Info("preparing a class", "class", c.ID, "lab", lab.ID, "sandboxes", len(keys))
	spec := s.Labs.Spec(lab.Primary)
	ctx := sandbox.Ahead(s.base) // ends with the server; a student who comes goes first
	lang := s.uiLang(r)
	var all sync.WaitGroup
	for _, key := range keys {
		all.Go(func() {
			_, err := s.Sandboxes.Open(ctx, key, spec, nil)
			if err == nil {
				err = s.preopen(ctx, students[key], lab.Primary, spec, lang)
			}
			s.prepares.mu.Lock()
			if err != nil {
				pr.Failed++
			} else {
				pr.Ready++
			}
			s.prepares.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				s.Log.Warn("prepare a sandbox", "class", c.ID, "user", key.UserID, "lab", key.Lab, "err", err)
			}
		})
	}
	s.prepares.wg.Go(func() {
		all.Wait()
		s.prepares.mu.Lock()
		pr.Done, pr.Took = true, time.Since(pr.Started).Seconds()
		s.prepares.mu.Unlock()
		s.Log.Info("class prepared", "class", c.ID, "lab", lab.ID, "ready", pr.Ready, "failed", pr.Failed, "took", time.Since(pr.Started).Round(time.Second))
	})
	http.Redirect(w, r, "/classes/"+r.PathValue("class"), http.StatusSeeOther)
	return nil
}

// preopenWait is how long a terminal opened ahead for a student waits for
// them (idle-stop ends it sooner: its sandbox stops).
const preopenWait = time.Hour

// preopen opens the student's first terminal of lab in their ready
// sandbox, so that their page finds the prompt there: forty shells opening
// at once cost seconds of the machine. lang is for its news when the
// student has not chosen one.
func (s *Server) preopen(ctx context.Context, m store.Member, lab *content.Lab, spec sandbox.Spec, lang string) error {
	if i18n.Supported(m.Lang) {
		lang = m.Lang
	}
	record, err := s.recorded(ctx, m.ID, lab)
	if err != nil {
		return err
	}
	key := sandbox.Key{UserID: m.ID, Lab: lab.ID}
	return s.Terminals.Preopen(terminalOwner(key.UserID, key.Lab), "1", 80, 24, terminal.Options{
		Record: record,
		Shell:  &sandboxShell{s: s, key: key, spec: spec, lang: lang, env: []string{handsonUser(&m.User)}},
	}, preopenWait)
}

// prepareStatus is the class's last preparation, for its page to follow.
func (s *Server) prepareStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	pr, ok := s.prepares.get(c.ID)
	if !ok {
		return apperr.New(apperr.NotFound, "err.prepare.never")
	}
	writeJSON(w, http.StatusOK, pr)
	return nil
}

// prepareWait waits for running preparations to end (they end with the
// server's base context).
func (s *Server) prepareWait(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.prepares.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
