package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"handson/internal/store"
)

// attemptEvent tells a class dashboard about a check just recorded.
type attemptEvent struct {
	User     int64  `json:"user"`
	Lab      string `json:"lab"`
	Step     string `json:"step"`
	Passed   bool   `json:"passed"`
	Status   string `json:"status"` // the step's standing now: passed or failed
	Attempts int    `json:"attempts"`
	Message  string `json:"message"`
}

// hub fans attempts out to the dashboards of the classes they belong to.
type hub struct {
	mu   sync.Mutex
	subs map[int64]map[chan attemptEvent]struct{}
}

func (h *hub) subscribe(class int64) (<-chan attemptEvent, func()) {
	// Room for a whole class pressing Check at once (200 in a second).
	ch := make(chan attemptEvent, 1024)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[int64]map[chan attemptEvent]struct{}{}
	}
	if h.subs[class] == nil {
		h.subs[class] = map[chan attemptEvent]struct{}{}
	}
	h.subs[class][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[class], ch)
		h.mu.Unlock()
	}
}

// publish never blocks: a stalled dashboard misses events (it catches up
// on reload) rather than slowing students' checks.
func (h *hub) publish(classes []int64, ev attemptEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range classes {
		for ch := range h.subs[c] {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

// attemptRecorded tells the student's classes' dashboards; called after the
// attempt is committed.
func (s *Server) attemptRecorded(r *http.Request, a *store.Attempt) {
	classes, err := s.Store.StudentClasses(r.Context(), a.UserID)
	if err != nil || len(classes) == 0 {
		return
	}
	progress, err := s.Store.Progress(r.Context(), a.UserID, a.LabID)
	if err != nil {
		return
	}
	p := progress[a.StepID]
	status := "failed"
	if p.Passed {
		status = "passed"
	}
	s.dashboards.publish(classes, attemptEvent{User: a.UserID, Lab: a.LabID, Step: a.StepID, Passed: a.Passed, Status: status, Attempts: p.Attempts, Message: a.Message})
}

// classEvents streams a class's attempts to its dashboard (server-sent
// events): the grid updates without a reload.
func (s *Server) classEvents(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	ch, cancel := s.dashboards.subscribe(c.ID)
	defer cancel()
	flusher, err := startEvents(w)
	if err != nil {
		return err
	}
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case ev := <-ch:
			// Write what has queued up, then flush once: a burst of checks
			// costs one write, not one per check.
			for more := true; more; {
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "event: attempt\ndata: %s\n\n", b)
				select {
				case ev = <-ch:
				default:
					more = false
				}
			}
			flusher.Flush()
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}
