package content

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Course is every lab found in a folder tree, in every language it has.
type Course struct {
	labs []*Entry
	byID map[string]*Entry
}

// Entry is one lab with its translations. Scripts come from the primary
// file; translations share its step ids and only change the words.
type Entry struct {
	ID      string
	Dir     string
	Primary *Lab
	ByLang  map[string]*Lab
}

// DefaultLang is the primary file's language when its front matter names none.
const DefaultLang = "ja"

// Load reads every DIR/lab.md (and DIR/lab.LANG.md) under fsys. It returns
// all problems found; labs with problems are left out of the course.
func Load(fsys fs.FS) (*Course, error) {
	primaries, err := fs.Glob(fsys, "*/lab.md")
	if err != nil {
		return nil, err
	}
	c := &Course{byID: map[string]*Entry{}}
	var errs Errors
	for _, file := range primaries {
		e, problems := loadEntry(fsys, file)
		errs = append(errs, problems...)
		if e == nil {
			continue
		}
		if other, ok := c.byID[e.ID]; ok {
			errs = append(errs, &Error{File: file, Line: 2, Col: 1, Msg: fmt.Sprintf("lab id %q is also used by %s", e.ID, other.Dir)})
			continue
		}
		c.byID[e.ID] = e
		c.labs = append(c.labs, e)
	}
	sort.Slice(c.labs, func(i, j int) bool { return c.labs[i].Dir < c.labs[j].Dir })
	if len(errs) > 0 {
		return c, errs
	}
	return c, nil
}

func loadEntry(fsys fs.FS, file string) (*Entry, Errors) {
	lab, errs := parseFile(fsys, file)
	if lab == nil {
		return nil, errs
	}
	if lab.Lang == "" {
		lab.Lang = DefaultLang
	}
	dir := path.Dir(file)
	e := &Entry{ID: lab.ID, Dir: dir, Primary: lab, ByLang: map[string]*Lab{lab.Lang: lab}}
	translations, _ := fs.Glob(fsys, dir+"/lab.*.md")
	for _, tf := range translations {
		lang := strings.TrimSuffix(strings.TrimPrefix(path.Base(tf), "lab."), ".md")
		t, terrs := parseFile(fsys, tf)
		errs = append(errs, terrs...)
		if t == nil {
			continue
		}
		if problems := matchTranslation(lab, t); len(problems) > 0 {
			errs = append(errs, problems...)
			continue
		}
		t.Lang = lang
		e.ByLang[lang] = t
	}
	return e, errs
}

func parseFile(fsys fs.FS, file string) (*Lab, Errors) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, Errors{{File: file, Line: 1, Col: 1, Msg: err.Error()}}
	}
	lab, err := Parse(file, src)
	var errs Errors
	if errors.As(err, &errs) {
		return nil, errs
	}
	return lab, nil
}

// matchTranslation checks that t has the primary's steps and takes the
// primary's scripts, which are written once.
func matchTranslation(primary, t *Lab) Errors {
	var errs Errors
	if t.ID != primary.ID {
		errs = append(errs, &Error{File: t.File, Line: 2, Col: 1, Msg: fmt.Sprintf("translation has id %q, but %s has %q", t.ID, primary.File, primary.ID)})
	}
	if len(t.Steps) != len(primary.Steps) {
		errs = append(errs, &Error{File: t.File, Line: 1, Col: 1, Msg: fmt.Sprintf("translation has %d steps, %s has %d", len(t.Steps), primary.File, len(primary.Steps))})
		return errs
	}
	for i, s := range t.Steps {
		p := primary.Steps[i]
		if s.ID != p.ID {
			errs = append(errs, &Error{File: t.File, Line: s.Line, Col: 1, Msg: fmt.Sprintf("step %d has id %q, %s has %q", i+1, s.ID, primary.File, p.ID)})
			continue
		}
		if s.Check != "" || s.Solve != "" || s.Setup != "" {
			errs = append(errs, &Error{File: t.File, Line: s.Line, Col: 1, Msg: "translations carry no check, solve or setup blocks: scripts are written once, in " + primary.File})
		}
		s.Check, s.Solve, s.Setup = p.Check, p.Solve, p.Setup
	}
	t.Duration, t.Image, t.Resources = primary.Duration, primary.Image, primary.Resources
	return errs
}

// Labs lists the course's labs in folder order.
func (c *Course) Labs() []*Entry { return c.labs }

// Lab returns a lab by id, or nil.
func (c *Course) Lab(id string) *Entry { return c.byID[id] }

// In returns the lab in the first of langs it has, else its primary language.
func (e *Entry) In(langs ...string) *Lab {
	for _, l := range langs {
		if lab, ok := e.ByLang[l]; ok {
			return lab
		}
	}
	return e.Primary
}
