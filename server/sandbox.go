package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"handson/internal/sandbox"
)

// events streams news about the student's sandbox for this lab as
// server-sent events: start progress, recovery, idle stop, disk limit, reset.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	key := sandbox.Key{UserID: userOf(r).ID, Lab: lab.ID}
	st, err := s.Sandboxes.Status(r.Context(), key)
	if err != nil {
		return err
	}
	ch, cancel := s.Sandboxes.Subscribe(key)
	defer cancel()
	flusher, err := startEvents(w)
	if err != nil {
		return err
	}
	lang := s.uiLang(r)
	send := func(ev sandbox.Event) {
		ev.Message = eventText(lang, ev)
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, b)
		flusher.Flush()
	}
	send(sandbox.Event{Kind: "state", Message: string(st.State)})
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case ev := <-ch:
			send(ev)
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}

// reset removes the student's sandbox for this lab; the next terminal
// starts a fresh one. Progress (attempts) is kept.
func (s *Server) reset(w http.ResponseWriter, r *http.Request) error {
	lab, err := s.lab(r)
	if err != nil {
		return err
	}
	if err := s.Sandboxes.Reset(r.Context(), sandbox.Key{UserID: userOf(r).ID, Lab: lab.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	return nil
}

// startEvents begins a server-sent event stream.
func startEvents(w http.ResponseWriter) (http.Flusher, error) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return nil, fmt.Errorf("response writer cannot flush")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // let a proxy pass events at once
	w.WriteHeader(http.StatusOK)
	return flusher, nil
}
