package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"handson/internal/auth"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// BenchmarkClassLoad: 200 students press Check at once while 5 dashboards
// watch the class. Each iteration is one such wave; it reports how long a
// check takes to reach every dashboard (p50/p95) and the attempts written
// to SQLite per second. Sandboxes are faked: this measures the platform.
func BenchmarkClassLoad(b *testing.B) {
	const students, dashboards = 200, 5
	e := newEnv(&testing.T{})
	ctx := context.Background()
	defer e.srv.Close(ctx)
	teacher := &store.User{Username: "teacher", PasswordHash: "x", Role: store.RoleInstructor}
	if err := e.db.CreateUser(ctx, teacher); err != nil {
		b.Fatal(err)
	}
	class, _ := e.db.CreateClass(ctx, "load", teacher.ID)
	u, _ := url.Parse(e.url)
	session := func(userID int64) *http.Client {
		token := auth.NewToken()
		if err := e.db.CreateSession(ctx, token, userID, time.Hour); err != nil {
			b.Fatal(err)
		}
		c := client()
		c.Jar.SetCookies(u, []*http.Cookie{{Name: "handson", Value: token}})
		c.Transport = &http.Transport{MaxIdleConnsPerHost: 4}
		return c
	}
	var clients []*http.Client
	for i := range students {
		s := &store.User{Username: fmt.Sprintf("s%03d", i), PasswordHash: "x"}
		if err := e.db.CreateUser(ctx, s); err != nil {
			b.Fatal(err)
		}
		e.db.Join(ctx, class.ID, s.ID, store.RoleStudent)
		clients = append(clients, session(s.ID))
		// Their sandboxes run already (as in class): checks need no start.
		if _, err := e.srv.Sandboxes.Open(ctx, sandbox.Key{UserID: s.ID, Lab: "demo"}, sandbox.Spec{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	e.fake.Answer = func(sandbox.Command) (*sandbox.Result, error) {
		return &sandbox.Result{ExitCode: 1, Output: []byte("not yet\n")}, nil
	}

	// Dashboards: each records when it saw each student's event.
	type seen struct {
		user string
		at   time.Time
	}
	var mu sync.Mutex
	arrivals := map[int][]seen{}
	for d := range dashboards {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/classes/%d/events", e.url, class.ID), nil)
		res, err := session(teacher.ID).Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("dashboard: %v %v", res, err)
		}
		defer res.Body.Close()
		go func() {
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					mu.Lock()
					arrivals[d] = append(arrivals[d], seen{data[:strings.Index(data, ",")], time.Now()})
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)

	var lat []time.Duration
	var written int
	var writing time.Duration
	b.ResetTimer()
	for range b.N {
		mu.Lock()
		clear(arrivals)
		mu.Unlock()
		sent := make([]time.Time, students)
		var wg sync.WaitGroup
		start := time.Now()
		for i, c := range clients {
			wg.Go(func() {
				sent[i] = time.Now()
				req, _ := http.NewRequest("POST", e.url+"/api/labs/demo/steps/touch/check", nil)
				res, err := c.Do(req)
				if err != nil || res.StatusCode != 200 {
					b.Errorf("check: %v %v", res, err)
					return
				}
				res.Body.Close()
			})
		}
		wg.Wait()
		writing += time.Since(start)
		written += students
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := 0
			for _, a := range arrivals {
				n += len(a)
			}
			mu.Unlock()
			if n == students*dashboards || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		for _, a := range arrivals {
			if len(a) != students {
				b.Errorf("a dashboard saw %d of %d checks", len(a), students)
			}
			for _, s := range a {
				var id int64
				fmt.Sscanf(s.user, `{"user":%d`, &id)
				// User ids start after alice, bob and the teacher.
				if i := int(id) - 4; i >= 0 && i < students {
					lat = append(lat, s.at.Sub(sent[i]))
				}
			}
		}
		mu.Unlock()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "dash-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "dash-p95-ms")
	}
	b.ReportMetric(float64(written)/writing.Seconds(), "attempts/s")
}
