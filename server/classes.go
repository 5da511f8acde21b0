package server

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"handson/content"
	"handson/internal/apperr"
	"handson/internal/auth"
	"handson/internal/imageref"
	"handson/internal/progress"
	"handson/internal/sandbox"
	"handson/internal/store"
)

// teacher runs h only for instructors and admins.
func (s *Server) teacher(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if u := userOf(r); u.Role != store.RoleInstructor && u.Role != store.RoleAdmin {
			return apperr.New(apperr.Forbidden, "err.teacher")
		}
		return h(w, r)
	}
}

// class loads the class in the path and checks that the user teaches it.
func (s *Server) class(r *http.Request) (*store.Class, error) {
	id, err := strconv.ParseInt(r.PathValue("class"), 10, 64)
	if err != nil {
		return nil, apperr.New(apperr.NotFound, "err.class.none")
	}
	c, err := s.Store.ClassByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	ok, err := s.Store.Teaches(r.Context(), userOf(r), c.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.New(apperr.Forbidden, "err.class.notyours")
	}
	return c, nil
}

// classStudent loads the class (which the user must teach) and the student
// in the path.
func (s *Server) classStudent(r *http.Request) (*store.Class, *store.Member, error) {
	c, err := s.class(r)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.student(r, c)
	return c, m, err
}

// studentLab is classStudent and the lab in the path.
func (s *Server) studentLab(r *http.Request) (*store.Class, *store.Member, *content.Entry, error) {
	c, m, err := s.classStudent(r)
	if err != nil {
		return nil, nil, nil, err
	}
	lab := s.CurrentCourse().Lab(r.PathValue("lab"))
	if lab == nil {
		return nil, nil, nil, apperr.New(apperr.NotFound, "err.lab.none")
	}
	return c, m, lab, nil
}

// student loads the member in the path: a student of class c.
func (s *Server) student(r *http.Request, c *store.Class) (*store.Member, error) {
	id, err := strconv.ParseInt(r.PathValue("user"), 10, 64)
	if err != nil {
		return nil, apperr.New(apperr.NotFound, "err.student.none")
	}
	members, err := s.Store.Members(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	for i := range members {
		if members[i].ID == id && members[i].ClassRole == store.RoleStudent {
			return &members[i], nil
		}
	}
	return nil, apperr.New(apperr.NotFound, "err.student.notinclass")
}

func (s *Server) classesPage(w http.ResponseWriter, r *http.Request) error {
	classes, err := s.Store.Classes(r.Context(), userOf(r))
	if err != nil {
		return err
	}
	return s.render(w, r, "classes", &view{Page: "classes", Data: classes})
}

func (s *Server) createClass(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.CreateClass(r.Context(), r.PostFormValue("name"), userOf(r).ID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/classes/%d", c.ID), http.StatusSeeOther)
	return nil
}

// classData is the class page: who is in it and where each student stands.
type classData struct {
	Class *store.Class
	*progress.Table
	Catalog  []classLab // every lab, with Chosen set, for the choice form
	Notice   string
	Accounts []newAccount // shown once after a roster import or a password reset
	// The class's last preparation (prepare.go): what it says, and whether
	// it is over (the page follows a running one).
	Prepare     string
	PrepareDone bool
}

type classLab struct {
	progress.Lab
	Chosen bool
}

type newAccount struct {
	Username, Name, Password string
}

func (s *Server) classData(r *http.Request, c *store.Class) (*classData, error) {
	d := &classData{Class: c}
	chosen, err := s.Store.ClassLabs(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	var labs []progress.Lab
	for _, e := range s.CurrentCourse().Labs() {
		l := classLab{Lab: progress.Lab{ID: e.ID, Title: e.In(s.langs(r)...).Title}, Chosen: len(chosen) == 0 || slices.Contains(chosen, e.ID)}
		for _, st := range e.Primary.Steps {
			if st.Check != "" {
				l.Steps = append(l.Steps, st.ID)
			}
		}
		d.Catalog = append(d.Catalog, l)
		if l.Chosen {
			labs = append(labs, l.Lab)
		}
	}
	members, err := s.Store.Members(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	var students []progress.Student
	for _, m := range members {
		if m.ClassRole == store.RoleStudent {
			students = append(students, progress.Student{ID: m.ID, Username: m.Username, Name: m.Name(), Email: m.Email})
		}
	}
	stats, err := s.Store.ClassProgress(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	d.Table = progress.Build(labs, students, stats, time.Now())
	return d, nil
}

// classWithData loads the class in the path (which the user must teach)
// and where its students stand.
func (s *Server) classWithData(r *http.Request) (*store.Class, *classData, error) {
	c, err := s.class(r)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.classData(r, c)
	return c, d, err
}

func (s *Server) classPage(w http.ResponseWriter, r *http.Request) error {
	c, d, err := s.classWithData(r)
	if err != nil {
		return err
	}
	if pr, ok := s.prepares.get(c.ID); ok {
		d.Prepare, d.PrepareDone = pr.text(s.uiLang(r)), pr.Done
	}
	return s.render(w, r, "class", &view{Page: "class", Data: d})
}

// importRoster creates accounts from a CSV (student id, name, email), adds
// them to the class and shows their first passwords once.
func (s *Server) importRoster(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	src := r.PostFormValue("roster")
	if f, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		if err != nil {
			return err
		}
		src = string(b)
	}
	rows, err := parseRoster(src)
	if err != nil {
		return err
	}
	var created []newAccount
	joined := 0
	for _, row := range rows {
		u, err := s.Store.UserByUsername(r.Context(), row.Username)
		if apperr.Code(err) == apperr.NotFound {
			pw := auth.NewPassword()
			hash, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			u = &store.User{Username: row.Username, DisplayName: row.Name, Email: row.Email, PasswordHash: hash, Role: store.RoleStudent}
			if err := s.Store.CreateUser(r.Context(), u); err != nil {
				return err
			}
			created = append(created, newAccount{u.Username, row.Name, pw})
		} else if err != nil {
			return err
		}
		if err := s.Store.Join(r.Context(), c.ID, u.ID, store.RoleStudent); err != nil {
			return err
		}
		joined++
	}
	d, err := s.classData(r, c)
	if err != nil {
		return err
	}
	d.Notice = tr(s.uiLang(r), "class.imported", joined, len(created), joined-len(created))
	d.Accounts = created
	return s.render(w, r, "class", &view{Page: "class", Data: d})
}

type rosterRow struct{ Username, Name, Email string }

// parseRoster reads "id,name,email" lines; a first line naming the columns
// is skipped.
func parseRoster(src string) ([]rosterRow, error) {
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(src, "\ufeff"))) // Excel writes a BOM
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	records, err := cr.ReadAll()
	if err != nil {
		return nil, apperr.New(apperr.Invalid, "err.roster.csv", err)
	}
	var rows []rosterRow
	for i, rec := range records {
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			continue
		}
		if i == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "id") {
			continue
		}
		row := rosterRow{Username: strings.TrimSpace(rec[0])}
		if len(rec) > 1 {
			row.Name = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			row.Email = strings.TrimSpace(rec[2])
		}
		if !validUsername(row.Username) {
			return nil, apperr.New(apperr.Invalid, "err.roster.id", i+1, row.Username)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, apperr.New(apperr.Invalid, "err.roster.empty")
	}
	return rows, nil
}

// resetPassword gives a student of the class a new password, shown once;
// their sessions end.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.classStudent(r)
	if err != nil {
		return err
	}
	pw := auth.NewPassword()
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(r.Context(), m.ID, hash); err != nil {
		return err
	}
	d, err := s.classData(r, c)
	if err != nil {
		return err
	}
	d.Notice = tr(s.uiLang(r), "class.newpw.done", m.Username)
	d.Accounts = []newAccount{{m.Username, m.Name(), pw}}
	return s.render(w, r, "class", &view{Page: "class", Data: d})
}

// resetStudentSandbox removes a student's sandbox for a lab.
func (s *Server) resetStudentSandbox(w http.ResponseWriter, r *http.Request) error {
	c, m, lab, err := s.studentLab(r)
	if err != nil {
		return err
	}
	if err := s.Sandboxes.Reset(r.Context(), sandbox.Key{UserID: m.ID, Lab: lab.ID}); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/classes/%d/members/%d", c.ID, m.ID), http.StatusSeeOther)
	return nil
}

// grades exports one line per student: steps passed per lab, points, and
// when the last step was passed; the score is a fraction too, ready to be
// sent as partial credit.
func (s *Server) grades(w http.ResponseWriter, r *http.Request) error {
	c, d, err := s.classWithData(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="class-%d-grades.csv"`, c.ID))
	return d.WriteCSV(w)
}

// labStats is a lab's picture for a class: how many finished and when,
// how long each step takes, which checks fail most.
type labStats struct {
	Class      *store.Class
	Lab        progress.Lab
	Students   int
	Finished   int
	Completion template.HTML
	StepTime   template.HTML
	Failures   template.HTML
	Common     []store.FailureCount
}

func (s *Server) labStatsPage(w http.ResponseWriter, r *http.Request) error {
	c, d, err := s.classWithData(r)
	if err != nil {
		return err
	}
	lab := r.PathValue("lab")
	ps, ok := d.Stats(lab)
	if !ok {
		return apperr.New(apperr.NotFound, "err.lab.none")
	}
	st := &labStats{Class: c, Students: len(d.Students), Finished: len(ps.Finished)}
	for _, l := range d.Labs {
		if l.ID == lab {
			st.Lab = l
		}
	}
	lang := s.uiLang(r)
	st.Completion = lineChart(tr(lang, "stats.completion"), ps.Finished, st.Students)
	var times, fails []bar
	for _, x := range ps.Steps {
		times = append(times, bar{x.Step, x.MedianMinutes, fmt.Sprintf("%.1f min (%d)", x.MedianMinutes, x.Solved)})
		fails = append(fails, bar{x.Step, float64(x.Failures), strconv.Itoa(x.Failures)})
	}
	st.StepTime = barChart(tr(lang, "stats.steptime"), times)
	st.Failures = barChart(tr(lang, "stats.failures"), fails)
	if st.Common, err = s.Store.CommonFailures(r.Context(), c.ID, lab, 10); err != nil {
		return err
	}
	return s.render(w, r, "labstats", &view{Page: "labstats", Data: st})
}

// studentData is one student's page for an instructor: their attempts with
// the checks' output as evidence, and what can be done for them.
type studentData struct {
	Class    *store.Class
	Student  *store.Member
	Labs     []progress.Lab
	Attempts []store.Attempt
	// What the student pushed to the classroom registry (nil registry:
	// none shown); PushedErr when it did not answer.
	Registry  string
	Pushed    []imageref.Repository
	PushedErr string
}

func (s *Server) studentPage(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.classStudent(r)
	if err != nil {
		return err
	}
	d := &studentData{Class: c, Student: m}
	for _, e := range s.CurrentCourse().Labs() {
		d.Labs = append(d.Labs, progress.Lab{ID: e.ID, Title: e.In(s.langs(r)...).Title})
	}
	if d.Attempts, err = s.Store.UserAttempts(r.Context(), m.ID, 200); err != nil {
		return err
	}
	if s.Registry != nil {
		d.Registry = s.Registry.Address()
		if ns, ok := imageref.Namespace(m.Username); ok {
			// The page must not fail with the registry: say it did not answer.
			if d.Pushed, err = s.Registry.Pushed(r.Context(), ns); err != nil {
				s.Log.Warn("listing a student's pushed images", "user", m.Username, "err", err)
				d.PushedErr = err.Error()
			}
		}
	}
	return s.render(w, r, "student", &view{Page: "student", Data: d})
}

// watchPage shows a student's terminal, read-only, to their instructor.
func (s *Server) watchPage(w http.ResponseWriter, r *http.Request) error {
	c, m, lab, err := s.studentLab(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "watch", &view{Page: "watch", Data: struct {
		Class   *store.Class
		Student *store.Member
		Lab     string
		Ports   []int // for the web preview; nil when it is off
		Preview bool
	}{c, m, lab.ID, lab.Primary.Ports, s.preview != nil}})
}

// chooseLabs sets the labs a class works on (none ticked: every lab).
func (s *Server) chooseLabs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "err.form")
	}
	var labs []string
	for _, id := range r.PostForm["lab"] {
		if s.CurrentCourse().Lab(id) == nil {
			return apperr.New(apperr.Invalid, "err.lab.unknown", id)
		}
		labs = append(labs, id)
	}
	if err := s.Store.SetClassLabs(r.Context(), c.ID, labs); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/classes/%d", c.ID), http.StatusSeeOther)
	return nil
}

// setRecord turns terminal recording on or off for the class's students.
func (s *Server) setRecord(w http.ResponseWriter, r *http.Request) error {
	c, err := s.class(r)
	if err != nil {
		return err
	}
	if err := s.Store.SetRecord(r.Context(), c.ID, r.PostFormValue("record") == "on"); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/classes/%d", c.ID), http.StatusSeeOther)
	return nil
}

// recording sends one of a student's terminal recordings (asciicast v2) to
// their instructor: only files under that student's own folder.
func (s *Server) recording(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.classStudent(r)
	if err != nil {
		return err
	}
	dir := s.Terminals.Config().RecordDir
	rel := filepath.Clean(r.PathValue("file"))
	if dir == "" || !strings.HasPrefix(rel, fmt.Sprintf("u%d_", m.ID)) || strings.Contains(rel, "..") || filepath.IsAbs(rel) {
		return apperr.New(apperr.NotFound, "err.recording.none")
	}
	f, err := os.Open(filepath.Join(dir, rel))
	if err != nil {
		return apperr.New(apperr.NotFound, "err.recording.none")
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/x-asciicast")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filepath.Base(rel)+`"`)
	_, err = io.Copy(w, f)
	return err
}
