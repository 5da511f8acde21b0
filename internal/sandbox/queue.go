package sandbox

import (
	"context"
	"slices"
	"sync"
	"time"
)

// queue admits sandbox starts: a few at once (a start is mostly the inner
// Docker's CPU), the others wait in line. First come first served within a
// group (a class); groups take turns, so one class's forty students do not
// hold up another class's one.
type queue struct {
	mu      sync.Mutex
	slots   int
	holders map[*holder]struct{}
	groups  map[string][]*waiter
	turn    []string      // groups with waiters, in the order they are served
	avg     time.Duration // moving average of how long a start holds a slot
	// fits, when set, says whether the machine has memory for one more
	// sandbox with starting sandboxes already admitted; q.mu is held, so
	// it only reads what refresh, called without it, last learned.
	fits    func(starting int) bool
	refresh func()
}

type holder struct{ since time.Time }

type waiter struct {
	group    string
	admitted chan struct{}
	moved    chan struct{} // the line moved: tell the student
	h        *holder       // set when admitted
}

func newQueue(slots int) *queue {
	return &queue{slots: slots, holders: map[*holder]struct{}{}, groups: map[string][]*waiter{}, avg: 3 * time.Second}
}

// Place is where a waiting start stands: 1 is next.
type Place struct {
	Position int
	Wait     time.Duration // estimate
	Memory   bool          // the line waits for memory, not for a slot: no estimate
}

// acquire returns once the start may go, with the function that ends it;
// meanwhile tell hears the start's place whenever the line moves, and every
// 2 s with a fresher estimate. ctx ending leaves the line. If it has to
// wait, queued hears (at once) how to move it to the front of the line.
func (q *queue) acquire(ctx context.Context, group string, now func() time.Time, tell func(Place), queued func(promote func())) (release func(), err error) {
	q.refreshRoom()
	q.mu.Lock()
	if len(q.holders) < q.slots && len(q.turn) == 0 && q.room() {
		h := q.hold(now())
		q.mu.Unlock()
		return q.releaser(h, now), nil
	}
	w := &waiter{group: group, admitted: make(chan struct{}), moved: make(chan struct{}, 1)}
	if len(q.groups[group]) == 0 {
		q.turn = append(q.turn, group)
	}
	q.groups[group] = append(q.groups[group], w)
	q.poke()
	q.mu.Unlock()
	if queued != nil {
		queued(func() { q.promote(w) })
	}

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.admitted:
			return q.releaser(w.h, now), nil
		case <-w.moved:
		case <-tick.C:
			q.refreshRoom()
			q.mu.Lock()
			q.admit(now()) // memory may have freed: a sandbox stopped
			q.mu.Unlock()
		case <-ctx.Done():
			q.mu.Lock()
			h := w.h
			if h == nil {
				q.remove(w)
				q.poke()
			}
			q.mu.Unlock()
			if h != nil { // admitted as it left: hand the slot on
				q.releaser(h, now)()
			}
			return nil, ctx.Err()
		}
		q.mu.Lock()
		p, ok := q.place(w, now())
		q.mu.Unlock()
		if ok && tell != nil {
			tell(p)
		}
	}
}

// hold takes a slot; q.mu is held.
func (q *queue) hold(at time.Time) *holder {
	h := &holder{since: at}
	q.holders[h] = struct{}{}
	return h
}

// releaser ends h's start once: the time it held the slot feeds the
// estimate, and the next in line goes.
func (q *queue) releaser(h *holder, now func() time.Time) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			delete(q.holders, h)
			q.avg = (3*q.avg + now().Sub(h.since)) / 4
			q.admit(now())
		})
	}
}

// admit lets waiters go while slots are free, the groups in turn; q.mu is
// held.
func (q *queue) admit(at time.Time) {
	moved := false
	for len(q.holders) < q.slots && len(q.turn) > 0 && q.room() {
		g := q.turn[0]
		w := q.groups[g][0]
		q.groups[g] = q.groups[g][1:]
		q.turn = q.turn[1:]
		if len(q.groups[g]) > 0 {
			q.turn = append(q.turn, g)
		} else {
			delete(q.groups, g)
		}
		w.h = q.hold(at)
		close(w.admitted)
		moved = true
	}
	if moved {
		q.poke()
	}
}

// promote moves w, if it still waits, to the front of the line: its group
// is served next, and w first in it.
func (q *queue) promote(w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ws := q.groups[w.group]
	i := slices.Index(ws, w)
	if i < 0 {
		return
	}
	q.groups[w.group] = append([]*waiter{w}, slices.Delete(ws, i, i+1)...)
	if j := slices.Index(q.turn, w.group); j > 0 {
		q.turn = append([]string{w.group}, slices.Delete(q.turn, j, j+1)...)
	}
	q.poke()
}

// refreshRoom learns what memory is free now; q.mu is not held.
func (q *queue) refreshRoom() {
	if q.refresh != nil {
		q.refresh()
	}
}

// room says whether memory allows one more start; q.mu is held.
func (q *queue) room() bool { return q.fits == nil || q.fits(len(q.holders)) }

// remove takes w out of the line; q.mu is held.
func (q *queue) remove(w *waiter) {
	ws := q.groups[w.group]
	if i := slices.Index(ws, w); i >= 0 {
		ws = slices.Delete(ws, i, i+1)
	}
	if len(ws) > 0 {
		q.groups[w.group] = ws
		return
	}
	delete(q.groups, w.group)
	if i := slices.Index(q.turn, w.group); i >= 0 {
		q.turn = slices.Delete(q.turn, i, i+1)
	}
}

// poke tells every waiter that the line moved; q.mu is held.
func (q *queue) poke() {
	for _, ws := range q.groups {
		for _, w := range ws {
			select {
			case w.moved <- struct{}{}:
			default:
			}
		}
	}
}

// order is the line as it will be served: the groups' heads in turn, then
// their seconds, and so on; q.mu is held.
func (q *queue) order() []*waiter {
	var out []*waiter
	for depth := 0; ; depth++ {
		n := len(out)
		for _, g := range q.turn {
			if ws := q.groups[g]; depth < len(ws) {
				out = append(out, ws[depth])
			}
		}
		if len(out) == n {
			return out
		}
	}
}

// place is w's position and an estimate of when its start begins (its
// shell opens a second later): the k-th in line goes when the k-th slot
// frees, each slot freeing avg after its start began; q.mu is held.
func (q *queue) place(w *waiter, at time.Time) (Place, bool) {
	pos := slices.Index(q.order(), w) + 1
	if pos == 0 {
		return Place{}, false
	}
	if len(q.holders) < q.slots { // a slot is free, memory is not
		return Place{Position: pos, Memory: true}, true
	}
	var left []time.Duration // until each slot frees, soonest first
	for h := range q.holders {
		left = append(left, max(0, q.avg-at.Sub(h.since)))
	}
	for len(left) < q.slots {
		left = append(left, 0)
	}
	slices.Sort(left)
	k := pos - 1
	return Place{Position: pos, Wait: left[k%q.slots] + time.Duration(k/q.slots)*q.avg}, true
}

// load is how many starts run and how many wait.
func (q *queue) load() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ws := range q.groups {
		waiting += len(ws)
	}
	return len(q.holders), waiting
}

// average is how long a start holds its slot, lately.
func (q *queue) average() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.avg
}
