package content

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// markdown renders lab text. goldmark's default (no WithUnsafe) drops raw
// HTML and dangerous link URLs, so a lab cannot put script on the page.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(
		renderer.WithNodeRenderers(util.Prioritized(codeBlocks{}, 100)),
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

// codeBlocks renders fenced blocks, wrapping exec and copy blocks so the page
// can give them Run and Copy buttons.
type codeBlocks struct{}

func (codeBlocks) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, renderFenced)
}

func renderFenced(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	b := n.(*ast.FencedCodeBlock)
	var info []string
	if b.Info != nil {
		info = strings.Fields(string(b.Info.Segment.Value(src)))
	}
	lang, role := "", ""
	for i, word := range info {
		switch {
		case word == "exec" || word == "copy":
			role = word
		case i == 0:
			lang = word
		}
	}
	if role != "" {
		w.WriteString(`<div class="codeblock" data-role="` + role + `">`)
	}
	w.WriteString("<pre><code")
	if lang != "" {
		w.WriteString(` class="language-`)
		w.Write(util.EscapeHTML([]byte(lang)))
		w.WriteString(`"`)
	}
	w.WriteString(">")
	lines := b.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		html.DefaultWriter.RawWrite(w, seg.Value(src))
	}
	w.WriteString("</code></pre>")
	if role != "" {
		w.WriteString("</div>")
	}
	w.WriteString("\n")
	return ast.WalkSkipChildren, nil
}
