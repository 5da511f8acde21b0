package content

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Messages are what checks say to students, by key, in one language. A
// check says `fail no-web` and the student reads the message no-web in the
// language they read the lab in; translators write messages next to the
// step's text and never touch a script. {1}, {2}… in a message stand for
// the words the check gives after the key: `fail wrong-port "$port"`.
type Messages map[string]string

var (
	keyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	// keyUse is a check's `fail key` or `pass key`, the key unquoted.
	keyUse   = regexp.MustCompile(`(?m)(?:^|[\s;&|({])(?:fail|pass)[ \t]+([a-z][a-z0-9-]*)(?:[ \t;)]|$)`)
	argMark  = regexp.MustCompile(`\{([1-9])\}`)
	noEscape = strings.NewReplacer("\\n", "\n")
)

// parseMessages reads a messages block: one "key: text" per line; a line
// that starts with a space or a tab continues the message above it, and
// "\n" in a message starts a new line. first is the block's first line in
// the file, for bad's line numbers.
func parseMessages(body string, first int, dst Messages, bad func(line, col int, format string, args ...any)) {
	last, broken := "", false
	for i, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		n := first + i
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if broken {
				continue // the line above is reported already
			}
			if last == "" {
				bad(n, 1, "an indented line continues the message above it, and there is none")
				continue
			}
			dst[last] += " " + strings.TrimSpace(line)
			continue
		}
		key, text, ok := strings.Cut(line, ":")
		key = strings.TrimSpace(key)
		broken = true
		switch {
		case !ok:
			bad(n, 1, "a message is written key: text")
			continue
		case !keyPattern.MatchString(key):
			bad(n, 1, "message key %q: use lower-case letters, digits and '-', starting with a letter", key)
			continue
		}
		if _, dup := dst[key]; dup {
			bad(n, 1, "message %q is given twice", key)
		}
		dst[key] = strings.TrimSpace(text)
		last, broken = key, false
	}
	for k, v := range dst {
		dst[k] = noEscape.Replace(v)
	}
}

// keysUsed are the message keys a check script names after fail or pass.
func keysUsed(script string) []string {
	var keys []string
	for _, m := range keyUse.FindAllStringSubmatch(script, -1) {
		if !slices.Contains(keys, m[1]) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// Say is what the student reads for a line a check printed: when its first
// tab-separated word is one of the messages' keys, that message with {1},
// {2}… filled from the words after it; otherwise the line itself. fail and
// pass join their words with tabs, so a key's words keep their spaces.
func (m Messages) Say(line string) string {
	words := strings.Split(line, "\t")
	text, ok := m[words[0]]
	if !ok {
		return strings.Join(words, " ")
	}
	args := words[1:]
	return argMark.ReplaceAllStringFunc(text, func(mark string) string {
		i, _ := strconv.Atoi(mark[1 : len(mark)-1])
		if i <= len(args) {
			return args[i-1]
		}
		return mark
	})
}

// matchMessages reports the keys a translation's messages miss or adds,
// against the primary file's.
func matchMessages(where string, primary, t Messages, add func(format string, args ...any)) {
	for _, k := range sortedKeys(primary) {
		if _, ok := t[k]; !ok {
			add("%s: message %q is not translated", where, k)
		}
	}
	for _, k := range sortedKeys(t) {
		if _, ok := primary[k]; !ok {
			add("%s: message %q is not in the primary file", where, k)
		}
	}
}

func sortedKeys(m Messages) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
