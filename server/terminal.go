package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"handson/internal/apperr"
	"handson/internal/sandbox"
	"handson/internal/terminal"
)

// phaseText is the i18n key of what the student reads while the sandbox
// comes up.
var phaseText = map[sandbox.Phase]string{
	sandbox.Creating: "sandbox.creating",
	sandbox.Starting: "sandbox.starting",
	sandbox.Waiting:  "sandbox.waiting",
	sandbox.Ready:    "sandbox.ready",
}

var tabRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// terminalOwner names the sessions of a user's lab.
func terminalOwner(user int64, lab string) string { return fmt.Sprintf("u%d/%s", user, lab) }

// terminal upgrades to a websocket and attaches it to a terminal session of
// the student's sandbox (?tab= picks one of several; default 1), starting
// the sandbox if needed. With ?view=1&user=ID an instructor watches that
// student's terminal read-only (viewer.go).
func (s *Server) terminal(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tab := q.Get("tab")
	if tab == "" {
		tab = "1"
	}
	if !tabRe.MatchString(tab) {
		return apperr.Errorf(apperr.Invalid, "Bad terminal tab.")
	}
	if q.Get("view") != "" || q.Has("user") {
		return s.viewTerminal(w, r, lab.ID, tab)
	}
	key := sandbox.Key{UserID: userOf(r).ID, Lab: lab.ID}
	spec := s.Labs.Spec(lab)
	// Recorded when the server keeps recordings and the lab or one of the
	// student's classes asks for it; the page shows a REC badge then.
	record := false
	if s.Terminals.Config().RecordDir != "" {
		classRecords, err := s.Store.Recorded(r.Context(), key.UserID)
		if err != nil {
			return err
		}
		record = lab.Record || classRecords
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	s.terminals.Add(1)
	defer s.terminals.Done()
	reg := s.Terminals
	// The shell opens as soon as the sandbox runs; its Docker may need a
	// few more seconds (the image's docker command waits for it). These
	// run for a new session only, in the session's goroutines, with its
	// context (it outlives this websocket).
	var ready <-chan error
	lang := s.uiLang(r) // of the student who opens it; a session's later news stays in it
	open := func(ctx context.Context, cols, rows uint, status func(state, msg string)) (terminal.TTY, error) {
		tty, dockerReady, err := s.Sandboxes.Shell(ctx, key, spec, cols, rows, func(p sandbox.Phase) {
			if p == sandbox.Creating || p == sandbox.Starting {
				status("starting", tr(lang, phaseText[p]))
			}
		}, handsonUser(userOf(r)))
		ready = dockerReady
		if err != nil {
			s.logError(r, err)
			return nil, errors.New(errText(lang, err)) // the browser sees only the safe message
		}
		return tty, nil
	}
	err = reg.Serve(r.Context(), ws, terminal.Options{
		Owner:   terminalOwner(key.UserID, key.Lab),
		Tab:     tab,
		Open:    open,
		OnInput: func() { s.Sandboxes.Touch(key) },
		AfterOpen: func(ctx context.Context, status func(state, msg string)) {
			report := func(err error) {
				if err != nil {
					status("error", errText(lang, err))
					return
				}
				status("ready", tr(lang, phaseText[sandbox.Ready]))
			}
			select {
			case err := <-ready: // already up: say so at once
				report(err)
				return
			default:
			}
			status("ready", tr(lang, phaseText[sandbox.Waiting]))
			select {
			case err := <-ready:
				report(err)
			case <-ctx.Done():
			}
		},
		Closed: func() string {
			if ev, ok := s.Sandboxes.Recent(key, 30*time.Second); ok {
				return eventText(lang, ev)
			}
			return ""
		},
		OnSession: func(sess *terminal.Session) { s.endWithSandbox(key, sess, lang) },
		Record:    record,
	})
	if err != nil {
		s.Log.Info("terminal ended", "user", key.UserID, "lab", key.Lab, "tab", tab, "err", err)
	}
	return nil
}

// endWithSandbox ends sess when its sandbox is reset, restarted or
// stopped: its shell is gone then, and a reconnecting page must get a new
// one (the exec stream's end may come later than the news).
func (s *Server) endWithSandbox(key sandbox.Key, sess *terminal.Session, lang string) {
	events, cancel := s.Sandboxes.Subscribe(key)
	go func() {
		defer cancel()
		for {
			select {
			case ev := <-events:
				switch ev.Kind {
				case sandbox.KindRemoved, sandbox.KindRecovered, sandbox.KindStopped, sandbox.KindDisk:
					sess.End(eventText(lang, ev))
					return
				}
			case <-sess.Done():
				return
			}
		}
	}()
}
