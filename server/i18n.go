package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"handson/internal/sandbox"
)

// UI languages; the first is the fallback.
var uiLangs = []string{"en", "ja"}

// messages is the UI's text in each language, by key.
var messages = map[string]map[string]string{
	"brand.logout":      {"en": "Log out", "ja": "ログアウト"},
	"nav.classes":       {"en": "Classes", "ja": "クラス"},
	"nav.lang":          {"en": "日本語", "ja": "English"},
	"login.title":       {"en": "Log in", "ja": "ログイン"},
	"login.username":    {"en": "Username", "ja": "ユーザー名"},
	"login.password":    {"en": "Password", "ja": "パスワード"},
	"login.submit":      {"en": "Log in", "ja": "ログイン"},
	"login.new":         {"en": "New here?", "ja": "はじめての方は"},
	"login.join":        {"en": "Join a class with its code", "ja": "参加コードでクラスに参加"},
	"login.wrong":       {"en": "Wrong username or password.", "ja": "ユーザー名またはパスワードが違います。"},
	"login.throttled":   {"en": "Too many attempts. Wait a minute, then try again.", "ja": "試行回数が多すぎます。1 分ほど待ってからもう一度お試しください。"},
	"register.title":    {"en": "Join a class", "ja": "クラスに参加"},
	"register.code":     {"en": "Join code", "ja": "参加コード"},
	"register.name":     {"en": "Your name", "ja": "お名前"},
	"register.submit":   {"en": "Create account", "ja": "アカウントを作成"},
	"register.have":     {"en": "Already have an account?", "ja": "アカウントをお持ちの方は"},
	"labs.title":        {"en": "Labs", "ja": "演習"},
	"labs.none":         {"en": "No labs yet.", "ja": "演習はまだありません。"},
	"lab.check":         {"en": "Check", "ja": "チェック"},
	"lab.connecting":    {"en": "Connecting…", "ja": "接続中…"},
	"lab.reset":         {"en": "Reset sandbox", "ja": "サンドボックスをリセット"},
	"lab.reset.title":   {"en": "Delete this lab's sandbox and start a fresh one. Your progress is kept.", "ja": "この演習のサンドボックスを削除して新しく作り直します。進捗は残ります。"},
	"lab.hint":          {"en": "Hint", "ja": "ヒント"},
	"error.back":        {"en": "Back to the labs", "ja": "演習一覧へ戻る"},
	"classes.title":     {"en": "Classes", "ja": "クラス"},
	"classes.none":      {"en": "No classes yet.", "ja": "クラスはまだありません。"},
	"classes.code":      {"en": "join code", "ja": "参加コード"},
	"classes.new":       {"en": "New class", "ja": "新しいクラス"},
	"classes.create":    {"en": "Create", "ja": "作成"},
	"class.join":        {"en": "Students join at /register with the code", "ja": "学生は /register でこの参加コードを入力します:"},
	"class.export":      {"en": "Export grades (CSV)", "ja": "成績を書き出す (CSV)"},
	"class.stuck":       {"en": "Needs help", "ja": "つまずいている学生"},
	"class.nobody":      {"en": "Nobody is stuck.", "ja": "つまずいている学生はいません。"},
	"class.failed":      {"en": "failed checks", "ja": "回失敗"},
	"class.student":     {"en": "Student", "ja": "学生"},
	"class.done":        {"en": "Done", "ja": "完了"},
	"class.nostudents":  {"en": "No students yet.", "ja": "学生はまだいません。"},
	"class.newpw":       {"en": "New password", "ja": "パスワード再発行"},
	"class.shown":       {"en": "Passwords are shown only now: hand them out or save this page.", "ja": "パスワードはこの画面でしか表示されません。配布するか、この画面を保存してください。"},
	"class.roster":      {"en": "Import a roster", "ja": "名簿を取り込む"},
	"class.roster.help": {"en": "One student per line: id,name,email. The id becomes the username; new accounts get a password shown once.", "ja": "1 行に 1 人: 学籍番号,氏名,メール。学籍番号がユーザー名になり、新しいアカウントのパスワードは一度だけ表示されます。"},
	"class.roster.file": {"en": "or a CSV file", "ja": "または CSV ファイル"},
	"class.import":      {"en": "Import", "ja": "取り込む"},
	"class.imported":    {"en": "%d students in the roster: %d new accounts, %d existing ones added.", "ja": "名簿の学生 %d 人: 新しいアカウント %d 件、既存のアカウント %d 件を追加しました。"},
	"class.newpw.done":  {"en": "New password for %s. Their open sessions have ended.", "ja": "%s の新しいパスワードです。開いていたセッションは終了しました。"},
	"class.record":      {"en": "Record the students' terminals (they see a REC badge)", "ja": "学生のターミナルを記録する (学生には REC と表示されます)"},
	"student.recording": {"en": "recording", "ja": "記録"},
	"class.labs":        {"en": "Labs of this class", "ja": "このクラスの演習"},
	"class.labs.help":   {"en": "Students see the ticked labs; none ticked: every lab.", "ja": "チェックした演習が学生に表示されます。何もチェックしなければすべての演習です。"},
	"class.labs.save":   {"en": "Save", "ja": "保存"},
	"stats.completion":  {"en": "Students who finished the lab, over time", "ja": "演習を終えた学生数の推移"},
	"stats.steptime":    {"en": "Median time from first check to pass, per step", "ja": "ステップごとの所要時間 (最初のチェックから合格まで、中央値)"},
	"stats.failures":    {"en": "Failed checks per step", "ja": "ステップごとの失敗したチェック数"},
	"stats.finished":    {"en": "finished", "ja": "人が完了"},
	"stats.common":      {"en": "Most frequent failures", "ja": "よくある失敗"},
	"stats.back":        {"en": "Back to the class", "ja": "クラスへ戻る"},
	"stats.step":        {"en": "Step", "ja": "ステップ"},
	"stats.message":     {"en": "Message", "ja": "メッセージ"},
	"stats.count":       {"en": "Times", "ja": "回数"},
	"student.attempts":  {"en": "Checks", "ja": "チェックの記録"},
	"student.when":      {"en": "When", "ja": "日時"},
	"student.result":    {"en": "Result", "ja": "結果"},
	"student.evidence":  {"en": "Output", "ja": "出力"},
	"student.reset":     {"en": "Reset sandbox", "ja": "サンドボックスをリセット"},
	"student.view":      {"en": "View terminal", "ja": "ターミナルを見る"},
	"student.none":      {"en": "No checks yet.", "ja": "チェックの記録はまだありません。"},
	"student.passed":    {"en": "passed", "ja": "合格"},
	"student.pushed":    {"en": "Pushed images", "ja": "プッシュしたイメージ"},
	"student.nopushed":  {"en": "Nothing pushed yet.", "ja": "まだ何もプッシュしていません。"},
	"student.registry":  {"en": "The classroom registry did not answer:", "ja": "クラスのレジストリが応答しませんでした:"},
	"nav.tokens":        {"en": "Access tokens", "ja": "アクセストークン"},
	"tokens.title":      {"en": "Access tokens", "ja": "アクセストークン"},
	"tokens.intro":      {"en": "An access token logs you in to the classroom registry from your sandbox (docker login), instead of your password. You may push images under your own name and pull the course's images.", "ja": "アクセストークンは、サンドボックスからクラスのレジストリにログイン (docker login) するときにパスワードの代わりに使います。自分の名前の下にイメージをプッシュでき、講座のイメージをプルできます。"},
	"tokens.noregistry": {"en": "This server runs no classroom registry at the moment; tokens work once it does.", "ja": "このサーバーでは現在クラスのレジストリが動いていません。動き始めるとトークンを使えます。"},
	"tokens.badname":    {"en": "Your username cannot be used as a registry namespace (lower-case letters and digits, separated by single '.', '_' or '-'): you can pull, but not push.", "ja": "このユーザー名はレジストリの名前空間に使えません (英小文字と数字、区切りは '.' '_' '-' 1 文字)。プルはできますが、プッシュはできません。"},
	"tokens.new":        {"en": "New token", "ja": "新しいトークン"},
	"tokens.once":       {"en": "Copy it now: it is shown only this once.", "ja": "今すぐコピーしてください。表示されるのはこの一度だけです。"},
	"tokens.login":      {"en": "In your sandbox's terminal:", "ja": "サンドボックスのターミナルで:"},
	"tokens.paste":      {"en": "At the Password: prompt, paste the token (not your account password).", "ja": "Password: と聞かれたら、(アカウントのパスワードではなく) このトークンを貼り付けます。"},
	"tokens.name":       {"en": "Name", "ja": "名前"},
	"tokens.expires":    {"en": "Expires", "ja": "有効期限"},
	"tokens.never":      {"en": "never", "ja": "なし"},
	"tokens.days":       {"en": "days", "ja": "日"},
	"tokens.create":     {"en": "Create token", "ja": "トークンを作成"},
	"tokens.created":    {"en": "Created", "ja": "作成日時"},
	"tokens.used":       {"en": "Last used", "ja": "最終使用"},
	"tokens.expired":    {"en": "expired", "ja": "期限切れ"},
	"tokens.revoke":     {"en": "Revoke", "ja": "無効にする"},
	"tokens.none":       {"en": "No tokens yet.", "ja": "トークンはまだありません。"},
	"student.failed":    {"en": "failed", "ja": "不合格"},

	// The sandbox's news (sandbox.Event codes) and start progress.
	"sandbox.creating":          {"en": "Creating your sandbox…", "ja": "サンドボックスを作成しています…"},
	"sandbox.starting":          {"en": "Starting your sandbox…", "ja": "サンドボックスを起動しています…"},
	"sandbox.waiting":           {"en": "Getting your sandbox ready…", "ja": "サンドボックスを準備しています…"},
	"sandbox.busy":              {"en": "The server is starting many sandboxes right now. Trying again in %d s.", "ja": "サーバーがいま多くのサンドボックスを起動しています。%d 秒後にもう一度試します。"},
	"sandbox.ready":             {"en": "Your sandbox is ready.", "ja": "サンドボックスの準備ができました。"},
	"sandbox.reset":             {"en": "Your sandbox was reset: everything in it was deleted, and a fresh one starts.", "ja": "サンドボックスをリセットしました。中身はすべて削除され、新しいサンドボックスが起動します。"},
	"sandbox.maxage":            {"en": "Your sandbox reached its maximum age (%s) and was removed. Reconnect to start a fresh one.", "ja": "サンドボックスが使用期限 (%s) に達したため削除しました。再接続すると新しいサンドボックスが起動します。"},
	"sandbox.idle":              {"en": "Your sandbox was stopped after %s without activity. Your files are kept: reconnect to resume.", "ja": "%sの間、操作がなかったため、サンドボックスを停止しました。ファイルは残っています。再接続すると続きから使えます。"},
	"sandbox.disk":              {"en": "Your sandbox uses %s of disk, more than its limit of %s, and was stopped. Reconnect, then free space (for example docker system prune -a), or reset the sandbox.", "ja": "サンドボックスのディスク使用量が %s になり、上限の %s を超えたため停止しました。再接続して容量を空ける (例: docker system prune -a) か、サンドボックスをリセットしてください。"},
	"sandbox.recovered.stopped": {"en": "Your sandbox stopped unexpectedly and was restarted. Your files are kept; containers you ran inside it were stopped.", "ja": "サンドボックスが予期せず停止したため、再起動しました。ファイルは残っていますが、中で動かしていたコンテナは停止しています。"},
	"sandbox.recovered.oom":     {"en": "Your sandbox ran out of memory and was restarted. Your files are kept; containers you ran inside it were stopped.", "ja": "サンドボックスのメモリが足りなくなったため、再起動しました。ファイルは残っていますが、中で動かしていたコンテナは停止しています。"},
	"sandbox.recovered.hung":    {"en": "Your sandbox stopped answering (too little memory?) and was restarted. Your files are kept; containers you ran inside it were stopped.", "ja": "サンドボックスが応答しなくなったため (メモリ不足?)、再起動しました。ファイルは残っていますが、中で動かしていたコンテナは停止しています。"},
	"sandbox.recovered.pids":    {"en": "Your sandbox ran out of processes (a fork bomb?) and was restarted. Your files are kept; containers you ran inside it were stopped.", "ja": "サンドボックスのプロセス数が上限に達したため (fork 爆弾?)、再起動しました。ファイルは残っていますが、中で動かしていたコンテナは停止しています。"},
	"duration.days":             {"en": "%d days", "ja": "%d日"},
	"duration.hours":            {"en": "%d hours", "ja": "%d時間"},
	"duration.minutes":          {"en": "%d minutes", "ja": "%d分"},
	"duration.seconds":          {"en": "%d seconds", "ja": "%d秒"},
	"duration.days.one":         {"en": "%d day"},
	"duration.hours.one":        {"en": "%d hour"},
	"duration.minutes.one":      {"en": "%d minute"},
	"duration.seconds.one":      {"en": "%d second"},
}

// eventText is a sandbox event's message in lang: its code's text when
// there is one, else the English message it carries.
func eventText(lang string, ev sandbox.Event) string {
	key := "sandbox." + ev.Code
	if _, ok := messages[key]; ev.Code == "" || !ok {
		return ev.Message
	}
	args := make([]any, len(ev.Args))
	for i, a := range ev.Args {
		args[i] = a
		if d, err := time.ParseDuration(a); err == nil {
			args[i] = durationText(lang, d)
		}
	}
	return tr(lang, key, args...)
}

// durationText says d in whole days, hours, minutes or seconds, the
// largest unit that divides it.
func durationText(lang string, d time.Duration) string {
	for _, u := range []struct {
		key string
		d   time.Duration
	}{{"duration.days", 24 * time.Hour}, {"duration.hours", time.Hour}, {"duration.minutes", time.Minute}} {
		if d >= u.d && d%u.d == 0 {
			return count(lang, u.key, int(d/u.d))
		}
	}
	return count(lang, "duration.seconds", int(d.Round(time.Second)/time.Second))
}

// count is n of a unit; key+".one" is the text for exactly one, where a
// language has it.
func count(lang, key string, n int) string {
	if _, ok := messages[key+".one"][lang]; ok && n == 1 {
		key += ".one"
	}
	return tr(lang, key, n)
}

// tr returns key's text in lang, formatted with args; an unknown key shows
// itself, so a missing text is visible rather than blank.
func tr(lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	s, ok := m[lang]
	if !ok {
		s = m[uiLangs[0]]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// uiLang picks the UI language: the user's choice, then the lang cookie,
// then the browser's languages.
func (s *Server) uiLang(r *http.Request) string {
	if u := userOf(r); u != nil && supported(u.Lang) {
		return u.Lang
	}
	if c, err := r.Cookie("lang"); err == nil && supported(c.Value) {
		return c.Value
	}
	for _, l := range acceptLanguages(r) {
		if supported(l) {
			return l
		}
	}
	return uiLangs[0]
}

func supported(lang string) bool {
	for _, l := range uiLangs {
		if l == lang {
			return true
		}
	}
	return false
}

// acceptLanguages lists the browser's languages, best first, as base tags.
func acceptLanguages(r *http.Request) []string {
	var out []string
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if tag == "" || tag == "*" {
			continue
		}
		out = append(out, strings.ToLower(strings.SplitN(tag, "-", 2)[0]))
	}
	return out
}

// setLang switches the UI language (and the labs' where a translation
// exists): for the account when logged in, else in a cookie.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if !supported(lang) {
		lang = uiLangs[0]
	}
	if u := s.optionalUser(r); u != nil {
		if err := s.Store.SetLang(r.Context(), u.ID, lang); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: "lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}
