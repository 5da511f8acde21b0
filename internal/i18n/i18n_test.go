package i18n

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var verb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// browserVerb is what frontend/src/i18n.ts's format knows of Go's verbs.
var browserVerb = regexp.MustCompile(`^%(\[\d+\])?[sd]$|^%%$`)

// Every key has every language (".one" forms only where a language has
// them), with the same format verbs: a translation never drops an argument.
// The browser's keys use only the verbs its formatter knows.
func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		if strings.HasPrefix(key, BrowserPrefix) {
			for l, s := range m {
				for _, v := range verb.FindAllString(s, -1) {
					if !browserVerb.MatchString(v) {
						t.Errorf("%s: %s has %s, which the browser does not format (only %%s, %%d, %%[n]s, %%[n]d, %%%%)", key, l, v)
					}
				}
			}
		}
		if strings.HasSuffix(key, ".one") {
			if _, ok := catalog[strings.TrimSuffix(key, ".one")]; !ok {
				t.Errorf("%s has no plural form", key)
			}
			continue
		}
		for _, l := range Langs {
			if m[l] == "" {
				t.Errorf("%s: no %s text", key, l)
			}
		}
		en := verbs(m["en"])
		for l, s := range m {
			if got := verbs(s); got != en {
				t.Errorf("%s: %s has verbs %q, en has %q", key, l, got, en)
			}
		}
	}
}

func verbs(s string) string {
	v := verb.FindAllString(s, -1)
	for i, x := range v { // %[1]d repeats an argument: order is free
		v[i] = regexp.MustCompile(`^%\[\d+\]`).ReplaceAllString(x, "%")
	}
	slices.Sort(v)
	return strings.Join(v, " ")
}

// A page gets the browser's keys and nothing else, in its language, with
// the fallback and ".one" forms T and Count would use.
func TestBrowser(t *testing.T) {
	for _, l := range append(Langs, "fr") {
		got := Browser(l)
		for key := range catalog {
			want, sent := got[key]
			switch {
			case !strings.HasPrefix(key, BrowserPrefix):
				if sent {
					t.Errorf("%s: %s is sent to the browser", l, key)
				}
			case strings.HasSuffix(key, ".one"): // as Count picks it
				text, has := catalog[key][l]
				if sent != has || want != text {
					t.Errorf("%s: %s is %q (sent %t), want %q (%t)", l, key, want, sent, text, has)
				}
			default:
				if !sent || want != T(l, key) {
					t.Errorf("%s: %s is %q (sent %t), want %q", l, key, want, sent, T(l, key))
				}
			}
		}
	}
	if n := len(Browser("en")); n < 40 {
		t.Errorf("Browser(en) has %d keys, want the scripts' 40 or more", n)
	}
}

func TestT(t *testing.T) {
	for _, c := range []struct {
		lang, key string
		args      []any
		want      string
	}{
		{"ja", "sandbox.ready", nil, "サンドボックスの準備ができました。"},
		{"fr", "sandbox.ready", nil, "Your sandbox is ready."},
		{"en", "no.such.key", nil, "no.such.key"},
		{"en", "sandbox.idle", []any{time.Hour}, "Your sandbox was stopped after 1 hour without activity. Your files are kept: reconnect to resume."},
		{"ja", "sandbox.idle", []any{30 * time.Minute}, "30分の間、操作がなかったため、サンドボックスを停止しました。ファイルは残っています。再接続すると続きから使えます。"},
	} {
		if got := T(c.lang, c.key, c.args...); got != c.want {
			t.Errorf("T(%s, %s, %v) = %q, want %q", c.lang, c.key, c.args, got, c.want)
		}
	}
}

// The disk news is the longest text the terminal bar's status shows (the
// sandbox's news and errors, sandbox.* and host.*): tests'
// TestTerminalBarLayout lays it out as the worst case.
func TestDiskNewsIsTheLongestStatus(t *testing.T) {
	for _, l := range Langs {
		disk := utf8.RuneCountInString(catalog["sandbox.disk"][l])
		for key, m := range catalog {
			if n := utf8.RuneCountInString(m[l]); (strings.HasPrefix(key, "sandbox.") || strings.HasPrefix(key, "host.")) && n > disk {
				t.Errorf("%s: %s (%d characters) is longer than sandbox.disk (%d): lay it out in TestTerminalBarLayout", l, key, n, disk)
			}
		}
	}
}
