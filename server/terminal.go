package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"handson/internal/apperr"
	"handson/internal/sandbox"
	"handson/internal/terminal"
)

// phaseText is what the student reads while the sandbox comes up.
var phaseText = map[sandbox.Phase]string{
	sandbox.Creating: "Creating your sandbox…",
	sandbox.Starting: "Starting your sandbox…",
	sandbox.Waiting:  "Waiting for Docker in your sandbox…",
	sandbox.Ready:    "Docker is ready.",
}

// terminal upgrades to a websocket and attaches it to a login shell in the
// student's sandbox, starting the sandbox if needed.
func (s *Server) terminal(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	key := sandbox.Key{UserID: userOf(r).ID, Lab: lab.ID}
	spec := s.Spec(lab)
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	s.terminals.Add(1)
	defer s.terminals.Done()
	// The shell opens as soon as the sandbox runs; its Docker may need a
	// few more seconds (the image's docker command waits for it).
	var ready <-chan error
	open := func(ctx context.Context, cols, rows uint, status func(state, msg string)) (terminal.TTY, error) {
		sb, dockerReady, err := s.Sandboxes.Start(ctx, key, spec, func(p sandbox.Phase) {
			if p == sandbox.Creating || p == sandbox.Starting {
				status("starting", phaseText[p])
			}
		})
		var tty sandbox.TTY
		if err == nil {
			ready = dockerReady
			tty, err = s.Sandboxes.Engine().Shell(ctx, sb, cols, rows)
		}
		if err != nil {
			s.logError(r, err)
			return nil, errors.New(apperr.Message(err)) // the browser sees only the safe message
		}
		return tty, nil
	}
	err = terminal.Serve(r.Context(), ws, terminal.Options{
		Open:    open,
		OnInput: func() { s.Sandboxes.Touch(key) },
		AfterOpen: func(ctx context.Context, status func(state, msg string)) {
			report := func(err error) {
				if err != nil {
					status("error", apperr.Message(err))
					return
				}
				status("ready", phaseText[sandbox.Ready])
			}
			select {
			case err := <-ready: // already up: say so at once
				report(err)
				return
			default:
			}
			status("ready", phaseText[sandbox.Waiting])
			select {
			case err := <-ready:
				report(err)
			case <-ctx.Done():
			}
		},
		Closed: func() string {
			if ev, ok := s.Sandboxes.Recent(key, 30*time.Second); ok {
				return ev.Message
			}
			return ""
		},
	})
	if err != nil {
		s.Log.Info("terminal ended", "user", key.UserID, "lab", key.Lab, "err", err)
	}
	return nil
}
