package server

import (
	"net/http"
	"strconv"

	"handson/internal/apperr"
	"handson/internal/store"
	"handson/internal/terminal"
)

// viewTerminal lets an instructor or an admin watch a student's terminal:
// GET /api/labs/{lab}/terminal?view=1&user={id}[&tab=N]. The viewer gets
// the student's output (a replay of the recent output first); its input
// and resizes are dropped by the server, and a slow viewer is skipped
// ahead rather than slowing the student's shell.
func (s *Server) viewTerminal(w http.ResponseWriter, r *http.Request, lab, tab string) error {
	viewer := userOf(r)
	if viewer.Role != store.RoleInstructor && viewer.Role != store.RoleAdmin {
		return apperr.New(apperr.Forbidden, "err.viewer.role")
	}
	student, err := strconv.ParseInt(r.URL.Query().Get("user"), 10, 64)
	if err != nil || student <= 0 {
		return apperr.New(apperr.Invalid, "err.viewer.user")
	}
	// An instructor watches only the students of the classes they teach.
	if ok, err := s.Store.TeachesUser(r.Context(), viewer, student); err != nil {
		return err
	} else if !ok {
		return apperr.New(apperr.Forbidden, "err.student.notyours")
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	s.terminals.Add(1)
	defer s.terminals.Done()
	s.Log.Info("terminal viewed", "viewer", viewer.ID, "student", student, "lab", lab, "tab", tab)
	err = s.Terminals.Serve(r.Context(), ws, terminal.Options{
		Owner:    terminalOwner(student, lab),
		Tab:      tab,
		ReadOnly: true,
	})
	if err != nil {
		s.Log.Info("terminal view ended", "viewer", viewer.ID, "student", student, "lab", lab, "err", err)
	}
	return nil
}
