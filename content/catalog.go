package content

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
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
	// Assets holds the files of the lab's assets/ folder, copied into the
	// student's home in the sandbox before the lab's setup; nil when the
	// lab has none.
	Assets fs.FS
}

// DefaultLang is the primary file's language when its front matter names none.
const DefaultLang = "ja"

// DefaultImage is the sandbox image of a lab that names none, unless the
// server is told otherwise.
const DefaultImage = "handson/sandbox:latest"

// PlatformImages are the sandbox images scripts/build-images.sh builds on
// every server: the default one and the one without Docker (for the lab
// where students install it).
var PlatformImages = []string{DefaultImage, "handson/sandbox-bare:latest"}

// MaxAssetBytes bounds a lab's assets/ folder: it is copied into every
// student's sandbox.
const MaxAssetBytes = 20 << 20

// Load reads every DIR/lab.md (and DIR/lab.LANG.md) under fsys, or fsys's
// own lab.md when it is one lab's folder. It returns all problems found;
// labs with problems are left out of the course.
func Load(fsys fs.FS) (*Course, error) {
	primaries, err := fs.Glob(fsys, "*/lab.md")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(fsys, "lab.md"); err == nil {
		primaries = append([]string{"lab.md"}, primaries...)
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
			line, col := e.Primary.at("id")
			errs = append(errs, &Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf("lab id %q is also used by %s", e.ID, other.Primary.File)})
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

// inDir is name inside dir, where dir "." is the root.
func inDir(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func loadEntry(fsys fs.FS, file string) (*Entry, Errors) {
	lab, errs := parseFile(fsys, file)
	dir := path.Dir(file)
	assets, aerrs := loadAssets(fsys, dir)
	errs = append(errs, aerrs...)
	translations, _ := fs.Glob(fsys, inDir(dir, "lab.*.md"))
	if lab == nil {
		// Report the translations' own problems too; matching them to
		// the primary waits until it parses.
		for _, tf := range translations {
			_, terrs := parseFile(fsys, tf)
			errs = append(errs, terrs...)
		}
		return nil, errs
	}
	if lab.Lang == "" {
		lab.Lang = DefaultLang
	}
	for _, s := range lab.Steps {
		if s.Check == "" && len(s.Hints) > 0 {
			errs = append(errs, &Error{File: file, Line: s.Line, Col: 1, Msg: fmt.Sprintf("step %q has hints but no check: hints are shown after a failed check", s.ID)})
		}
	}
	e := &Entry{ID: lab.ID, Dir: dir, Primary: lab, ByLang: map[string]*Lab{lab.Lang: lab}, Assets: assets}
	for _, tf := range translations {
		lang := strings.TrimSuffix(strings.TrimPrefix(path.Base(tf), "lab."), ".md")
		t, terrs := parseFile(fsys, tf)
		errs = append(errs, terrs...)
		if t == nil {
			continue
		}
		if !langPattern.MatchString(lang) {
			errs = append(errs, &Error{File: tf, Line: 0, Msg: fmt.Sprintf("%q is not a language code: name translations lab.LANG.md, like lab.en.md", lang)})
			continue
		}
		if lang == lab.Lang {
			errs = append(errs, &Error{File: tf, Line: 0, Msg: fmt.Sprintf("%s is already in %s (its lang)", file, lang)})
			continue
		}
		if problems := matchTranslation(lab, t, lang); len(problems) > 0 {
			errs = append(errs, problems...)
			continue
		}
		e.ByLang[lang] = t
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return e, nil
}

// loadAssets checks dir/assets: regular files and folders only, at most
// MaxAssetBytes in all.
func loadAssets(fsys fs.FS, dir string) (fs.FS, Errors) {
	root := inDir(dir, "assets")
	st, err := fs.Stat(fsys, root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, Errors{{File: root, Msg: err.Error()}}
	}
	if !st.IsDir() {
		return nil, Errors{{File: root, Msg: "assets must be a folder: its files are copied into the student's home"}}
	}
	var errs Errors
	var total int64
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: err.Error()})
			return nil
		}
		switch {
		case d.IsDir():
		case d.Type().IsRegular():
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		default:
			errs = append(errs, &Error{File: p, Msg: "an asset must be a regular file or folder (no links or devices)"})
		}
		return nil
	})
	if err != nil {
		errs = append(errs, &Error{File: root, Msg: err.Error()})
	}
	if total > MaxAssetBytes {
		errs = append(errs, &Error{File: root, Msg: fmt.Sprintf("assets hold %d MiB; at most %d MiB are copied into each sandbox", total>>20, MaxAssetBytes>>20)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sub, err := fs.Sub(fsys, root)
	if err != nil {
		return nil, Errors{{File: root, Msg: err.Error()}}
	}
	return sub, nil
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

// primaryOnly are the front matter fields written once, in the primary file.
var primaryOnly = []string{"duration", "image", "resources", "ports", "tags", "level"}

// matchTranslation checks that t has the primary's steps and takes the
// primary's scripts and settings, which are written once.
func matchTranslation(primary, t *Lab, lang string) Errors {
	var errs Errors
	add := func(line, col int, format string, args ...any) {
		errs = append(errs, &Error{File: t.File, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
	}
	pf := path.Base(primary.File) // next to t
	if t.ID != primary.ID {
		line, col := t.at("id")
		add(line, col, "translation has id %q, but %s has %q", t.ID, pf, primary.ID)
	}
	if t.Lang != "" && t.Lang != lang {
		line, col := t.at("lang")
		add(line, col, "lang %q, but the file name says %q", t.Lang, lang)
	}
	for _, f := range primaryOnly {
		if p, ok := t.pos[f+":"]; ok {
			add(p.line, p.col, "a translation does not set %s: it comes from %s", f, pf)
		}
	}
	if t.Setup != "" {
		add(1, 1, "translations carry no setup block: scripts are written once, in %s", pf)
	}
	if len(t.Steps) != len(primary.Steps) {
		line := 1
		if n := min(len(t.Steps), len(primary.Steps)); n < len(t.Steps) {
			line = t.Steps[n].Line
		} else if len(t.Steps) > 0 {
			line = t.Steps[len(t.Steps)-1].Line
		}
		add(line, 1, "translation has %d steps, %s has %d (%s)", len(t.Steps), pf, len(primary.Steps), stepIDs(primary))
	}
	for i, s := range t.Steps {
		if i >= len(primary.Steps) {
			break
		}
		p := primary.Steps[i]
		if s.ID != p.ID {
			want := fmt.Sprintf("%s has %q", pf, p.ID)
			if j := slices.IndexFunc(primary.Steps, func(ps *Step) bool { return ps.ID == s.ID }); j >= 0 {
				want += fmt.Sprintf(" (%q is its step %d: keep the steps in the same order)", s.ID, j+1)
			}
			add(s.Line, s.idCol, "step %d has id %q, %s", i+1, s.ID, want)
			continue
		}
		if s.Check != "" || s.Solve != "" || s.Setup != "" || len(s.Cheats)+len(s.Variants) > 0 {
			add(s.Line, 1, "translations carry no check, solve, setup, cheat or variant blocks: scripts are written once, in %s", pf)
		}
		if len(s.Hints) > 0 && p.Check == "" {
			add(s.Line, 1, "step %q has hints but no check in %s: hints are shown after a failed check", s.ID, pf)
		}
		matchMessages(fmt.Sprintf("step %q", s.ID), p.Messages, s.Messages, func(format string, args ...any) {
			add(s.Line, 1, format, args...)
		})
		s.Check, s.Solve, s.Setup = p.Check, p.Solve, p.Setup
	}
	t.Lang, t.Setup = lang, primary.Setup
	t.Duration, t.Image, t.Resources = primary.Duration, primary.Image, primary.Resources
	t.Ports, t.Tags, t.Level, t.Record = primary.Ports, primary.Tags, primary.Level, primary.Record
	return errs
}

func stepIDs(l *Lab) string {
	ids := make([]string, len(l.Steps))
	for i, s := range l.Steps {
		ids[i] = s.ID
	}
	return strings.Join(ids, ", ")
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

// CheckImages reports labs whose image is not one of known: the images a
// server has. Names without a tag mean ":latest".
func (c *Course) CheckImages(known ...string) Errors {
	var errs Errors
	have := map[string]bool{}
	for _, k := range known {
		have[NormalImage(k)] = true
	}
	for _, e := range c.labs {
		img := e.Primary.Image
		if img == "" || have[NormalImage(img)] {
			continue
		}
		line, col := e.Primary.at("image")
		list := slices.Sorted(maps.Keys(have))
		errs = append(errs, &Error{File: e.Primary.File, Line: line, Col: col, Msg: fmt.Sprintf(
			"unknown image %q: the known images are %s (give more with -image NAME)", img, strings.Join(list, ", "))})
	}
	return errs
}

// NormalImage adds ":latest" to an image name without a tag or digest.
func NormalImage(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	if i := strings.LastIndex(name, "/"); !strings.Contains(name[i+1:], ":") {
		return name + ":latest"
	}
	return name
}
