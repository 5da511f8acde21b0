package content

import (
	"strings"
	"testing"
	"testing/fstest"
)

const withMessages = "---\nid: m\ntitle: M\n---\n" +
	"```messages\nnot-running: コンテナ {1} が動いていません。\n```\n" +
	"## One {#one}\n" +
	"```check\n[ -f /x ] || fail no-x\ndocker ps | grep -q web || fail not-running web\npass done\n```\n" +
	"```messages\nno-x: /x がありません。\n  touch /x で作れます。\ndone: できました。\\n次へ。\n```\n" +
	"```solve\ntouch /x\n```\n"

const withMessagesEn = "---\nid: m\ntitle: M\n---\n" +
	"```messages\nnot-running: The container {1} is not running.\n```\n" +
	"## One {#one}\n" +
	"```messages\nno-x: There is no /x.\ndone: Done.\n```\n"

func TestMessages(t *testing.T) {
	c, err := Load(fstest.MapFS{"m/lab.md": {Data: []byte(withMessages)}, "m/lab.en.md": {Data: []byte(withMessagesEn)}})
	if err != nil {
		t.Fatal(err)
	}
	ja, en := c.Lab("m").Primary.Steps[0], c.Lab("m").ByLang["en"].Steps[0]
	for _, tc := range []struct {
		step      *Step
		line, say string
	}{
		{ja, "no-x", "/x がありません。 touch /x で作れます。"},
		{ja, "done", "できました。\n次へ。"},
		{ja, "not-running\tweb", "コンテナ web が動いていません。"},
		{en, "not-running\tmy web", "The container my web is not running."},
		{en, "not-running", "The container {1} is not running."},
		{en, "no-x\textra", "There is no /x."},
		{en, "Something\tplain", "Something plain"}, // not a key: the words as printed
		{en, "no-x is missing", "no-x is missing"},
	} {
		if got := tc.step.Messages.Say(tc.line); got != tc.say {
			t.Errorf("Say(%q) = %q, want %q", tc.line, got, tc.say)
		}
	}
	if strings.Contains(ja.HTML, "messages") || strings.Contains(ja.HTML, "できました") {
		t.Errorf("messages leaked into the guide: %s", ja.HTML)
	}
}

func TestMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      fstest.MapFS
		want       string
		wantInFile string
	}{
		{"undefined key", fstest.MapFS{"m/lab.md": {Data: []byte(strings.Replace(withMessages, "fail no-x", "fail no-y", 1))}},
			`step "one": its check says "no-y", which is not in its messages block or the lab's`, "m/lab.md:8:1"},
		{"bad line", fstest.MapFS{"m/lab.md": {Data: []byte(strings.Replace(withMessages, "no-x: /x", "no-x /x", 1))}},
			"a message is written key: text", "m/lab.md:15:1"},
		{"bad key", fstest.MapFS{"m/lab.md": {Data: []byte(strings.Replace(withMessages, "done:", "Done:", 1))}},
			`message key "Done"`, "m/lab.md:17:1"},
		{"twice", fstest.MapFS{"m/lab.md": {Data: []byte(strings.Replace(withMessages, "done:", "no-x:", 1))}},
			`message "no-x" is given twice`, "m/lab.md:17:1"},
		{"untranslated", fstest.MapFS{"m/lab.md": {Data: []byte(withMessages)}, "m/lab.en.md": {Data: []byte(strings.Replace(withMessagesEn, "done: Done.\n", "", 1))}},
			`step "one": message "done" is not translated`, "m/lab.en.md:8:1"},
		{"extra", fstest.MapFS{"m/lab.md": {Data: []byte(withMessages)}, "m/lab.en.md": {Data: []byte(strings.Replace(withMessagesEn, "done: Done.", "done: Done.\nmore: More.", 1))}},
			`step "one": message "more" is not in the primary file`, "m/lab.en.md:8:1"},
	} {
		_, err := Load(tc.files)
		if err == nil || !strings.Contains(err.Error(), tc.wantInFile+": "+tc.want) {
			t.Errorf("%s: errors:\n%v\nwant %s: %s", tc.name, err, tc.wantInFile, tc.want)
		}
	}
	// A lab without messages may say anything.
	if _, err := Parse("p/lab.md", []byte("---\nid: p\ntitle: P\n---\n## P {#p}\n```check\nfail nope\n```\n```solve\ntrue\n```\n")); err != nil {
		t.Errorf("plain fail words rejected: %v", err)
	}
}
