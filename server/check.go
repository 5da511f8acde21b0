package server

import (
	"net/http"

	"handson/internal/apperr"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// check runs a step's check in the student's sandbox and records the attempt.
func (s *Server) check(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	step := lab.Step(r.PathValue("step"))
	if step == nil || step.Check == "" {
		return apperr.New(apperr.NotFound, "err.step.nocheck")
	}
	u := userOf(r)
	sb, err := s.Sandboxes.Open(r.Context(), sandbox.Key{UserID: u.ID, Lab: lab.ID}, s.Labs.Spec(lab), nil)
	if err != nil {
		return err
	}
	// HANDSON_USER names the student's registry namespace
	// ($REGISTRY/$HANDSON_USER/…).
	res, err := s.Labs.Check(r.Context(), sb, lab, step, handsonUser(u))
	if err != nil {
		return err
	}
	a := &store.Attempt{
		UserID: u.ID, LabID: lab.ID, StepID: step.ID,
		Passed: res.Passed, ExitCode: res.ExitCode, Message: res.Message, Output: res.Output, Duration: res.Duration,
	}
	// The terminal recordings running now show how the student got here.
	for _, info := range s.Terminals.Sessions(terminalOwner(u.ID, lab.ID)) {
		if info.Recording != "" {
			a.Recordings = append(a.Recordings, info.Recording)
		}
	}
	// Committed before it is shown: an attempt the student saw is never lost.
	if err := s.Store.AddAttempt(r.Context(), a); err != nil {
		return err
	}
	s.attemptRecorded(r, a)
	writeJSON(w, http.StatusOK, map[string]any{
		"passed": res.Passed, "message": res.Message, "output": res.Output, "exitCode": res.ExitCode,
	})
	return nil
}
