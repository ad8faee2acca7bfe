package schema

import (
	"errors"
	"fmt"
	"strings"
)

// The migrations' statements, parsed. The cluster and current-layout rewrites build
// their DDL from these structures instead of rewriting SQL text with patterns: a
// tokenizer that knows quotes, comments and {placeholders} finds the column list, the
// engine and the clauses by nesting depth, so a column type with nested parentheses or
// a string with a comma or parenthesis in it cannot end a part early.

// tokenKind is what a token is.
type tokenKind int

const (
	tokWord        tokenKind = iota // keyword, identifier or number
	tokString                       // '...'
	tokQuotedIdent                  // `...` or "..."
	tokPlaceholder                  // {db}, {shard}: filled in later
	tokPunct                        // one character: ( ) , . = and the rest
)

// token is one token of a statement and where it is in the statement's text.
type token struct {
	kind       tokenKind
	text       string
	start, end int // byte offsets: text == stmt[start:end]
}

// is reports whether t is the keyword kw (case-insensitive) or the punctuation kw.
func (t token) is(kw string) bool {
	return (t.kind == tokWord || t.kind == tokPunct) && strings.EqualFold(t.text, kw)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// tokenize splits a statement into tokens, skipping whitespace and comments.
func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case strings.HasPrefix(s[i:], "--"):
			if end := strings.IndexByte(s[i:], '\n'); end >= 0 {
				i += end + 1
			} else {
				i = len(s)
			}
			continue
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment at offset %d", i)
			}
			i += end + 4
			continue
		case c == '\'' || c == '`' || c == '"':
			end, err := quoteEnd(s, i)
			if err != nil {
				return nil, err
			}
			kind := tokQuotedIdent
			if c == '\'' {
				kind = tokString
			}
			i = end
			out = append(out, token{kind: kind, text: s[start:i], start: start, end: i})
			continue
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated placeholder at offset %d", i)
			}
			i += end + 1
			out = append(out, token{kind: tokPlaceholder, text: s[start:i], start: start, end: i})
			continue
		case isWordByte(c):
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			out = append(out, token{kind: tokWord, text: s[start:i], start: start, end: i})
			continue
		}
		i++
		out = append(out, token{kind: tokPunct, text: s[start:i], start: start, end: i})
	}
	return out, nil
}

// quoteEnd returns the offset just past the quoted text starting at s[i]; a backslash
// escapes the next character and a doubled quote stands for itself.
func quoteEnd(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c quote at offset %d", q, i)
}

// tokens is a parser's position in a statement.
type tokens struct {
	src  string
	toks []token
	pos  int
}

func (p *tokens) done() bool { return p.pos >= len(p.toks) }

func (p *tokens) peek() token {
	if p.done() {
		return token{kind: -1, start: len(p.src), end: len(p.src)}
	}
	return p.toks[p.pos]
}

// accept consumes the keywords kws if they come next, all of them or none.
func (p *tokens) accept(kws ...string) bool {
	if p.pos+len(kws) > len(p.toks) {
		return false
	}
	for i, kw := range kws {
		if !p.toks[p.pos+i].is(kw) {
			return false
		}
	}
	p.pos += len(kws)
	return true
}

func (p *tokens) expect(kws ...string) error {
	if !p.accept(kws...) {
		return fmt.Errorf("expected %s at %q", strings.Join(kws, " "), p.rest())
	}
	return nil
}

// rest is the text from the current token on, for error messages.
func (p *tokens) rest() string {
	r := p.src[p.peek().start:]
	if len(r) > 40 {
		r = r[:40] + "..."
	}
	return r
}

// dbTable reads {db}.name and returns name.
func (p *tokens) dbTable() (string, error) {
	if p.pos+2 < len(p.toks) && p.toks[p.pos].text == "{db}" && p.toks[p.pos+1].is(".") && p.toks[p.pos+2].kind == tokWord {
		p.pos += 3
		return p.toks[p.pos-1].text, nil
	}
	return "", fmt.Errorf("expected {db}.<table> at %q", p.rest())
}

// group reads a parenthesised group and returns the text inside, split at its
// top-level commas (each part trimmed).
func (p *tokens) group() ([]string, error) {
	_, parts, err := p.groupText()
	return parts, err
}

// groupText reads a parenthesised group and returns the text inside and that text
// split at its top-level commas. Each part runs from its first token to its last, so
// comments around a part are left out.
func (p *tokens) groupText() (string, []string, error) {
	open := p.peek()
	if !open.is("(") {
		return "", nil, fmt.Errorf("expected ( at %q", p.rest())
	}
	p.pos++
	var parts []string
	depth, inner, from := 0, p.pos, p.pos
	for ; !p.done(); p.pos++ {
		t := p.toks[p.pos]
		switch {
		case t.is("("):
			depth++
		case t.is(")") && depth > 0:
			depth--
		case t.is(")"):
			if from < p.pos || len(parts) > 0 {
				parts = append(parts, p.span(from, p.pos))
			}
			text := p.span(inner, p.pos)
			p.pos++
			return text, parts, nil
		case t.is(",") && depth == 0:
			parts = append(parts, p.span(from, p.pos))
			from = p.pos + 1
		}
	}
	return "", nil, fmt.Errorf("unbalanced ( at %q", p.src[open.start:])
}

// span is the text from token i up to (not including) token j, "" when i == j.
func (p *tokens) span(i, j int) string {
	if i >= j {
		return ""
	}
	return p.src[p.toks[i].start:p.toks[j-1].end]
}

// splitTopLevel splits text at the commas outside parentheses and quotes.
func splitTopLevel(text string) ([]string, error) {
	p, err := newTokens("(" + text + ")")
	if err != nil {
		return nil, err
	}
	parts, err := p.group()
	if err == nil && !p.done() {
		err = fmt.Errorf("unbalanced ) in %q", text)
	}
	return parts, err
}

func newTokens(s string) (*tokens, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	return &tokens{src: s, toks: toks}, nil
}

// errNoForm: the statement is none of the forms the migrations use.
var errNoForm = errors.New("not a statement form the migrations use")

// parseStatement parses a migration statement: a *createTableStmt, an *addColumnsStmt
// or a *createViewStmt; anything else is errNoForm.
func parseStatement(stmt string) (any, error) {
	p, err := newTokens(stmt)
	if err != nil {
		return nil, err
	}
	switch {
	case p.accept("CREATE", "TABLE", "IF", "NOT", "EXISTS"):
		return parseCreateTable(p)
	case p.accept("ALTER", "TABLE"):
		return parseAddColumns(p)
	case p.accept("CREATE", "MATERIALIZED", "VIEW", "IF", "NOT", "EXISTS"):
		return parseCreateView(p)
	}
	return nil, errNoForm
}
