// Package i18n is the platform's one message catalog: every text a user
// reads, by key, in each UI language. Lower layers return keys with
// arguments (apperr.New); the edge (pages, API answers, the command line)
// turns them into the reader's language here.
package i18n

import (
	"fmt"
	"strings"
	"time"
)

// Langs are the UI languages; the first is the fallback.
var Langs = []string{"en", "ja"}

// Supported reports whether lang is a UI language.
func Supported(lang string) bool {
	for _, l := range Langs {
		if l == lang {
			return true
		}
	}
	return false
}

// AcceptLanguages lists the languages of an Accept-Language header, best
// first (in the header's order), as lower-case base tags ("ja-JP" → "ja").
func AcceptLanguages(header string) []string {
	var out []string
	for _, part := range strings.Split(header, ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if tag == "" || tag == "*" {
			continue
		}
		out = append(out, strings.ToLower(strings.SplitN(tag, "-", 2)[0]))
	}
	return out
}

// Pick is the first supported language of langs, else the fallback.
func Pick(langs ...string) string {
	for _, l := range langs {
		if Supported(l) {
			return l
		}
	}
	return Langs[0]
}

// Has reports whether the catalog has key.
func Has(key string) bool {
	_, ok := catalog[key]
	return ok
}

// T returns key's text in lang, formatted with args (a time.Duration is
// said in words); an unknown key shows itself, so a missing text is
// visible rather than blank.
func T(lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	s, ok := m[lang]
	if !ok {
		s = m[Langs[0]]
	}
	if len(args) == 0 {
		return s
	}
	said := make([]any, len(args))
	for i, a := range args {
		said[i] = a
		if d, ok := a.(time.Duration); ok {
			said[i] = Duration(lang, d)
		}
	}
	return fmt.Sprintf(s, said...)
}

// BrowserPrefix starts the keys the browser's scripts say (web.check.*,
// web.term.*, …): Browser hands them to pages, and only them.
const BrowserPrefix = "web."

// Browser is the texts of the browser's keys in lang, by key, as T and
// Count would pick them: a missing text is the fallback language's, a
// ".one" form is there only where lang has it. Each page carries it for
// its scripts (frontend/src/i18n.ts formats them as T does).
func Browser(lang string) map[string]string {
	out := map[string]string{}
	for key, m := range catalog {
		if !strings.HasPrefix(key, BrowserPrefix) {
			continue
		}
		s, ok := m[lang]
		if !ok && !strings.HasSuffix(key, ".one") {
			s, ok = m[Langs[0]]
		}
		if ok {
			out[key] = s
		}
	}
	return out
}

// Count is n of a unit; key+".one" is the text for exactly one, where a
// language has it.
func Count(lang, key string, n int) string {
	if _, ok := catalog[key+".one"][lang]; ok && n == 1 {
		key += ".one"
	}
	return T(lang, key, n)
}

// Duration says d in whole days, hours, minutes or seconds, the largest
// unit that divides it.
func Duration(lang string, d time.Duration) string {
	for _, u := range []struct {
		key string
		d   time.Duration
	}{{"duration.days", 24 * time.Hour}, {"duration.hours", time.Hour}, {"duration.minutes", time.Minute}} {
		if d >= u.d && d%u.d == 0 {
			return Count(lang, u.key, int(d/u.d))
		}
	}
	return Count(lang, "duration.seconds", int(d.Round(time.Second)/time.Second))
}
