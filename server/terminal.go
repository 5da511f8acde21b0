package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"handson/content"
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
		return apperr.New(apperr.Invalid, "err.terminal.tab")
	}
	if q.Get("view") != "" || q.Has("user") {
		return s.viewTerminal(w, r, lab.ID, tab)
	}
	key := sandbox.Key{UserID: userOf(r).ID, Lab: lab.ID}
	record, err := s.recorded(r.Context(), key.UserID, lab)
	if err != nil {
		return err
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	s.terminals.Add(1)
	defer s.terminals.Done()
	err = s.Terminals.Serve(r.Context(), ws, terminal.Options{
		Owner:  terminalOwner(key.UserID, key.Lab),
		Tab:    tab,
		Record: record,
		Shell: &sandboxShell{s: s, key: key, spec: s.Labs.Spec(lab),
			lang: s.uiLang(r), // of the student who opens it; a session's later news stays in it
			env:  []string{handsonUser(userOf(r))}},
	})
	if err != nil {
		s.Log.Info("terminal ended", "user", key.UserID, "lab", key.Lab, "tab", tab, "err", err)
	}
	return nil
}

// recorded says whether user's terminals of lab are recorded: when the
// server keeps recordings and the lab or one of the student's classes asks
// for it (the page shows a REC badge then).
func (s *Server) recorded(ctx context.Context, user int64, lab *content.Lab) (bool, error) {
	if s.Terminals.Config().RecordDir == "" {
		return false, nil
	}
	classRecords, err := s.Store.Recorded(ctx, user)
	return lab.Record || classRecords, err
}

// sandboxShell is a terminal session's shell in the student's sandbox: it
// starts the sandbox as needed, tells the student how it comes up in their
// language, and ends the session when the sandbox is reset, restarted or
// stopped (its shell is gone then).
type sandboxShell struct {
	s     *Server
	key   sandbox.Key
	spec  sandbox.Spec
	lang  string
	env   []string     // for the shell: HANDSON_USER
	ready <-chan error // once the sandbox is ready
}

// Open starts the sandbox and a login shell in it; the shell opens as soon
// as the sandbox runs (its Docker starts on the first docker command,
// which waits for it).
func (sh *sandboxShell) Open(ctx context.Context, cols, rows uint, status func(state, msg string)) (terminal.TTY, error) {
	tty, ready, err := sh.s.Sandboxes.Shell(ctx, sh.key, sh.spec, cols, rows, func(ev sandbox.Event) {
		switch {
		case ev.Kind == sandbox.KindQueued: // many start at once: its place in line
			status("starting", eventText(sh.lang, ev))
		case ev.Phase == sandbox.Creating || ev.Phase == sandbox.Starting:
			status("starting", tr(sh.lang, phaseText[ev.Phase]))
		}
	}, sh.env...)
	if err != nil {
		sh.s.Log.Log(ctx, logLevel(err), "open a terminal", "user", sh.key.UserID, "lab", sh.key.Lab, "err", err)
		return nil, errors.New(errText(sh.lang, err)) // the browser sees only the safe message
	}
	sh.ready = ready
	return tty, nil
}

// Opened says when the sandbox is ready (or will not be), and ends the
// session with the sandbox.
func (sh *sandboxShell) Opened(ctx context.Context, sess *terminal.Session) {
	events, cancel := sh.s.Sandboxes.Subscribe(sh.key)
	defer cancel()
	report := func(err error) {
		if err != nil {
			sess.Status("error", errText(sh.lang, err))
			return
		}
		sess.Status("ready", tr(sh.lang, phaseText[sandbox.Ready]))
	}
	ready := sh.ready
	select {
	case err := <-ready: // already up: say so at once
		report(err)
		ready = nil
	default:
		sess.Status("ready", tr(sh.lang, phaseText[sandbox.Waiting]))
	}
	for {
		select {
		case err := <-ready:
			report(err)
			ready = nil
		case ev := <-events:
			switch ev.Kind {
			case sandbox.KindRemoved, sandbox.KindRecovered, sandbox.KindStopped, sandbox.KindDisk:
				sess.End(eventText(sh.lang, ev))
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// Input: keystrokes are activity, which keeps the sandbox from idling out.
func (sh *sandboxShell) Input() { sh.s.Sandboxes.Touch(sh.key) }

// Closed: the sandbox's recent news, when its shell ended because of it.
func (sh *sandboxShell) Closed() string {
	if ev, ok := sh.s.Sandboxes.Recent(sh.key, 30*time.Second); ok {
		return eventText(sh.lang, ev)
	}
	return ""
}
