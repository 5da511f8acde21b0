package sandbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// line is a queue under test with a clock that stands still.
type line struct {
	q   *queue
	now time.Time
}

func (l *line) clock() time.Time { return l.now }

// join starts a waiter of group in the background; its places and its
// admission are reported on the returned channels.
func (l *line) join(t *testing.T, ctx context.Context, group string) (places chan Place, admitted chan func(), failed chan error) {
	t.Helper()
	places, admitted, failed = make(chan Place, 64), make(chan func(), 1), make(chan error, 1)
	n, _ := l.q.load()
	_, before := l.q.load()
	go func() {
		release, err := l.q.acquire(ctx, group, l.clock, func(p Place) { places <- p }, nil)
		if err != nil {
			failed <- err
			return
		}
		admitted <- release
	}()
	// Wait until it stands in line (or holds a slot), so joins keep order.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r, w := l.q.load()
		if r > n || w > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter never joined")
		}
	}
}

// lastPlace is the newest place reported, waiting for one.
func lastPlace(t *testing.T, places chan Place) Place {
	t.Helper()
	var p Place
	select {
	case p = <-places:
	case <-time.After(5 * time.Second):
		t.Fatal("no place reported")
	}
	for {
		select {
		case p = <-places:
		default:
			return p
		}
	}
}

func TestQueueOrderAndFairness(t *testing.T) {
	l := &line{q: newQueue(1), now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	_, first, _ := l.join(t, ctx, "class 1")
	hold := <-first // the only slot

	// Class 1's three students, then class 2's one: class 2 goes second.
	var admitted []chan func()
	var places []chan Place
	for _, g := range []string{"class 1", "class 1", "class 1", "class 2"} {
		p, a, _ := l.join(t, ctx, g)
		places, admitted = append(places, p), append(admitted, a)
	}
	want := []int{1, 3, 4, 2} // a1, b1 between a1 and a2
	for i, p := range places {
		if got := lastPlace(t, p); got.Position != want[i] {
			t.Errorf("waiter %d is %d in line, want %d", i, got.Position, want[i])
		}
	}
	order := []int{0, 3, 1, 2}
	for _, i := range order {
		hold()
		select {
		case hold = <-admitted[i]:
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d not admitted next", i)
		}
		for j, a := range admitted {
			if j != i && len(a) > 0 {
				t.Fatalf("waiter %d admitted with %d", j, i)
			}
		}
	}
	hold()
	if r, w := l.q.load(); r != 0 || w != 0 {
		t.Errorf("after all: %d running, %d waiting", r, w)
	}
}

func TestQueueEstimate(t *testing.T) {
	l := &line{q: newQueue(2), now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	l.q.avg = 4 * time.Second
	ctx := context.Background()
	_, a, _ := l.join(t, ctx, "")
	releaseA := <-a
	l.now = l.now.Add(time.Second)
	_, b, _ := l.join(t, ctx, "")
	<-b
	var places []chan Place
	for range 3 {
		p, _, _ := l.join(t, ctx, "")
		places = append(places, p)
	}
	// Slots free in 3 s (a) and 4 s (b); then every 4 s per slot.
	for i, want := range []time.Duration{3 * time.Second, 4 * time.Second, 7 * time.Second} {
		if got := lastPlace(t, places[i]); got.Position != i+1 || got.Wait != want {
			t.Errorf("waiter %d: %+v, want place %d in %s", i, got, i+1, want)
		}
	}
	// Time passes: the estimate comes down.
	l.now = l.now.Add(2 * time.Second)
	releaseA() // held 3 s: the average moves to (3*4+3)/4 = 3.75 s
	if got := lastPlace(t, places[1]); got.Position != 1 || got.Wait != 1750*time.Millisecond {
		t.Errorf("after a start ended: %+v, want first in 1.75 s (b's slot, held 2 s of 3.75)", got)
	}
}

func TestQueueLeave(t *testing.T) {
	l := &line{q: newQueue(1), now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	_, a, _ := l.join(t, context.Background(), "")
	hold := <-a
	ctx, leave := context.WithCancel(context.Background())
	_, gone, failed := l.join(t, ctx, "")
	places, next, _ := l.join(t, context.Background(), "")
	if p := lastPlace(t, places); p.Position != 2 {
		t.Fatalf("behind the one who leaves: %+v", p)
	}
	leave()
	if err := <-failed; !errors.Is(err, context.Canceled) {
		t.Fatalf("leaving: %v", err)
	}
	if p := lastPlace(t, places); p.Position != 1 {
		t.Errorf("after one left: %+v, want first", p)
	}
	hold()
	select {
	case release := <-next:
		release()
	case <-gone:
		t.Fatal("the one who left was admitted")
	case <-time.After(5 * time.Second):
		t.Fatal("the next one was not admitted")
	}
}

// A waiter admitted just as it leaves hands its slot on: no slot is lost.
func TestQueueLeaveWhenAdmitted(t *testing.T) {
	q := newQueue(1)
	now := time.Now
	for range 200 {
		hold, err := q.acquire(context.Background(), "", now, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, leave := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if release, err := q.acquire(ctx, "", now, nil, nil); err == nil {
				release()
			}
		})
		for _, w := q.load(); w == 0; _, w = q.load() {
			time.Sleep(10 * time.Microsecond)
		}
		go leave()
		hold()
		wg.Wait()
		if r, w := q.load(); r != 0 || w != 0 {
			t.Fatalf("%d running, %d waiting after both ended", r, w)
		}
	}
}

func TestQueuePromote(t *testing.T) {
	l := &line{q: newQueue(1), now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	_, a, _ := l.join(t, ctx, "x")
	hold := <-a
	var promotes []func()
	admitted := make([]chan func(), 3)
	for i, g := range []string{"class 1", "class 1", "class 2"} {
		admitted[i] = make(chan func(), 1)
		go func() {
			release, err := l.q.acquire(ctx, g, l.clock, nil, func(p func()) {
				promotes = append(promotes, p)
			})
			if err == nil {
				admitted[i] <- release
			}
		}()
		for _, w := l.q.load(); w != i+1; _, w = l.q.load() {
			time.Sleep(time.Millisecond)
		}
	}
	promotes[1]() // class 1's second: ahead of its classmate and of class 2
	hold()
	select {
	case hold = <-admitted[1]:
	case <-time.After(5 * time.Second):
		t.Fatal("the promoted one was not admitted next")
	}
	hold()
	select { // then class 2 (its turn), then class 1's first
	case hold = <-admitted[2]:
	case <-time.After(5 * time.Second):
		t.Fatal("class 2 was not next")
	}
	hold()
	(<-admitted[0])()
}
