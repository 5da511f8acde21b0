package content

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// markdown renders lab text. goldmark's default (no WithUnsafe) drops raw
// HTML and dangerous link URLs, so a lab cannot put script on the page.
// The CJK extension lets "\ " (an escaped space, rendered as nothing) end
// emphasis next to Japanese punctuation; texts joins lines of Japanese
// text without the space a line break would show between two characters.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM, extension.NewCJK(extension.WithEscapedSpace())),
	goldmark.WithRendererOptions(
		renderer.WithNodeRenderers(util.Prioritized(codeBlocks{}, 100), util.Prioritized(texts{}, 100)),
	),
)

// Render turns lab Markdown into safe HTML.
func Render(md string) (string, error) {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(md), &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// texts renders text like goldmark does, except at a soft line break
// (a newline inside a paragraph) between two East Asian wide characters,
// which it drops: a browser would show it as a space in the middle of a
// Japanese sentence. goldmark's own option for this drops the newline
// before inline code or a link too, even in English.
type texts struct{}

var textWriter = html.NewWriter(html.WithEscapedSpace())

func (texts) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindText, renderText)
}

func renderText(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Text)
	value := n.Segment.Value(src)
	if n.IsRaw() {
		textWriter.RawWrite(w, value)
	} else {
		textWriter.Write(w, value)
	}
	switch {
	case n.HardLineBreak():
		w.WriteString("<br>\n")
	case n.SoftLineBreak():
		last, _ := utf8.DecodeLastRune(value)
		next, _ := utf8.DecodeRune(firstText(node.NextSibling(), src))
		if len(value) == 0 || !util.IsEastAsianWideRune(last) || !util.IsEastAsianWideRune(next) {
			w.WriteByte('\n')
		}
	}
	return ast.WalkContinue, nil
}

// firstText is the text that n (and what follows it) starts with, looking
// into inline code, emphasis and links.
func firstText(n ast.Node, src []byte) []byte {
	for ; n != nil; n = n.NextSibling() {
		switch t := n.(type) {
		case *ast.Text:
			if v := t.Segment.Value(src); len(v) > 0 {
				return v
			}
		case *ast.String:
			if len(t.Value) > 0 {
				return t.Value
			}
		default:
			if v := firstText(n.FirstChild(), src); len(v) > 0 {
				return v
			}
		}
	}
	return nil
}

// codeBlocks renders fenced blocks, wrapping exec and copy blocks so the page
// can give them Run and Copy buttons, and highlighting code in a language
// chroma knows with CSS classes (highlight.css styles them).
type codeBlocks struct{}

func (codeBlocks) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, renderFenced)
}

func renderFenced(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	b := n.(*ast.FencedCodeBlock)
	var info []word
	if b.Info != nil {
		info = infoWords(string(b.Info.Segment.Value(src)))
	}
	lang, role := blockRole(info, nil)
	if hidden[role] {
		// The parser takes these out of the guide and reports any it
		// cannot; never show one.
		return ast.WalkSkipChildren, nil
	}
	var code bytes.Buffer
	lines := b.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code.Write(seg.Value(src))
	}
	if role == "exec" || role == "copy" {
		w.WriteString(`<div class="codeblock" data-role="` + role + `">`)
	}
	highlighted, ok := highlight(lang, code.String())
	if ok {
		w.WriteString(`<pre class="chroma">`)
	} else {
		w.WriteString("<pre>")
	}
	w.WriteString("<code")
	if lang != "" {
		w.WriteString(` class="language-`)
		w.Write(util.EscapeHTML([]byte(lang)))
		w.WriteString(`"`)
	}
	w.WriteString(">")
	if ok {
		w.WriteString(highlighted)
	} else {
		html.DefaultWriter.RawWrite(w, code.Bytes())
	}
	w.WriteString("</code></pre>")
	if role == "exec" || role == "copy" {
		w.WriteString("</div>")
	}
	w.WriteString("\n")
	return ast.WalkSkipChildren, nil
}

// formatter writes tokens as <span class="…">, escaped, with nothing around
// them: the text of the result is exactly the code, which the page's Run
// button types into the terminal.
var formatter = chromahtml.New(chromahtml.WithClasses(true), chromahtml.PreventSurroundingPre(true))

// highlight returns code as highlighted HTML when lang names a language
// chroma knows. A lexer that fails, or panics, leaves the block plain.
func highlight(lang, code string) (out string, ok bool) {
	if lang == "" || code == "" {
		return "", false
	}
	lexer := lexerFor(lang)
	if lexer == nil || lexer == lexers.Fallback {
		return "", false
	}
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	it, err := chroma.Coalesce(lexer).Tokenise(nil, code)
	if err != nil {
		return "", false
	}
	var buf strings.Builder
	if err := formatter.Format(&buf, styles.Fallback, it); err != nil {
		return "", false
	}
	return buf.String(), true
}

var (
	lexerMu    sync.Mutex
	lexerCache = map[string]chroma.Lexer{}
	langName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+#._-]{0,31}$`)
)

// lexerFor is chroma's lexer for a language name, alias or file extension,
// or nil. chroma takes tens of milliseconds to rule out a name (it tries
// every lexer's file patterns), so answers are remembered.
func lexerFor(name string) chroma.Lexer {
	if !langName.MatchString(name) {
		return nil
	}
	lexerMu.Lock()
	defer lexerMu.Unlock()
	l, ok := lexerCache[name]
	if !ok {
		l = lexers.Get(name)
		if len(lexerCache) < 4096 {
			lexerCache[name] = l
		}
	}
	return l
}
