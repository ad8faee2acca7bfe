package schema

import (
	"fmt"
	"strings"
)

// createTableStmt is a parsed CREATE TABLE IF NOT EXISTS {db}.<table> (...) ENGINE = ...
type createTableStmt struct {
	table      string
	columns    []string // column definitions, as written
	indexes    []string // INDEX definitions from the column list, as written
	engine     string   // MergeTree, AggregatingMergeTree, ...
	engineArgs string   // inside the engine's parentheses, as written
	clauses    map[string]string
}

// tableClauses are the clauses after ENGINE, in the order ClickHouse documents them
// and the rewrites write them.
var tableClauses = [][]string{
	{"PARTITION", "BY"}, {"ORDER", "BY"}, {"PRIMARY", "KEY"}, {"SAMPLE", "BY"}, {"TTL"}, {"SETTINGS"},
}

func (c *createTableStmt) orderBy() string     { return c.clauses["ORDER BY"] }
func (c *createTableStmt) partitionBy() string { return c.clauses["PARTITION BY"] }
func (c *createTableStmt) settings() string    { return c.clauses["SETTINGS"] }

// columnNames are the names of the columns, unquoted.
func (c *createTableStmt) columnNames() []string {
	out := make([]string, len(c.columns))
	for i, def := range c.columns {
		out[i] = columnName(def)
	}
	return out
}

// sql writes the statement for table name (with on, an ON CLUSTER clause, when not
// empty) with the given column list entries and engine; clauses come from c.
func (c *createTableStmt) sql(name, on string, entries []string, engine string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS {db}." + name)
	if on != "" {
		b.WriteString(" " + on)
	}
	b.WriteString("\n(\n    " + strings.Join(entries, ",\n    ") + "\n)\nENGINE = " + engine)
	b.WriteString(c.clauseText())
	return b.String()
}

// clauseText is the clauses after the engine, one a line, each line led by "\n".
func (c *createTableStmt) clauseText() string {
	var b strings.Builder
	for _, kw := range tableClauses {
		name := strings.Join(kw, " ")
		if expr := c.clauses[name]; expr != "" {
			b.WriteString("\n" + name + " " + expr)
		}
	}
	return b.String()
}

func parseCreateTable(p *tokens) (*createTableStmt, error) {
	table, err := p.dbTable()
	if err != nil {
		return nil, err
	}
	c := &createTableStmt{table: table, clauses: map[string]string{}}
	entries, err := p.group()
	if err != nil {
		return nil, fmt.Errorf("table %s columns: %w", table, err)
	}
	for _, e := range entries {
		if first := firstWord(e); strings.EqualFold(first, "INDEX") {
			c.indexes = append(c.indexes, e)
		} else {
			c.columns = append(c.columns, e)
		}
	}
	if err := p.expect("ENGINE", "="); err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	if e := p.peek(); e.kind == tokWord {
		c.engine = e.text
		p.pos++
	} else {
		return nil, fmt.Errorf("table %s: expected an engine name at %q", table, p.rest())
	}
	if p.peek().is("(") {
		if c.engineArgs, _, err = p.groupText(); err != nil {
			return nil, fmt.Errorf("table %s engine: %w", table, err)
		}
	}
	for !p.done() {
		kw := p.clauseKeyword()
		if kw == "" {
			return nil, fmt.Errorf("table %s: unknown clause at %q", table, p.rest())
		}
		if _, dup := c.clauses[kw]; dup {
			return nil, fmt.Errorf("table %s: %s twice", table, kw)
		}
		expr, err := p.clauseExpr()
		if err != nil {
			return nil, fmt.Errorf("table %s %s: %w", table, kw, err)
		}
		c.clauses[kw] = expr
	}
	return c, nil
}

// clauseKeyword consumes a clause keyword (PARTITION BY, ...) and returns it, or "".
func (p *tokens) clauseKeyword() string {
	for _, kw := range tableClauses {
		if p.accept(kw...) {
			return strings.Join(kw, " ")
		}
	}
	return ""
}

// clauseExpr reads a clause's expression: every token up to the next clause keyword
// outside parentheses, or the end.
func (p *tokens) clauseExpr() (string, error) {
	first, depth := p.pos, 0
	for ; !p.done(); p.pos++ {
		t := p.toks[p.pos]
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			if depth--; depth < 0 {
				return "", fmt.Errorf("unbalanced ) at %q", p.rest())
			}
		case depth == 0 && p.pos > first && p.atClause():
			return p.src[p.toks[first].start:p.toks[p.pos-1].end], nil
		}
	}
	if depth != 0 {
		return "", fmt.Errorf("unbalanced ( in %q", p.src[p.toks[min(first, len(p.toks)-1)].start:])
	}
	if p.pos == first {
		return "", fmt.Errorf("no expression")
	}
	return p.src[p.toks[first].start:p.toks[p.pos-1].end], nil
}

// atClause reports whether a clause keyword starts at the current token.
func (p *tokens) atClause() bool {
	at := p.pos
	defer func() { p.pos = at }()
	return p.clauseKeyword() != ""
}

// addColumnsStmt is a parsed ALTER TABLE {db}.<table> ADD COLUMN ..., ADD COLUMN ...
type addColumnsStmt struct {
	table   string
	columns []string // each ADD COLUMN's definition, as written
	placed  bool     // a column is placed with AFTER or FIRST
}

func parseAddColumns(p *tokens) (*addColumnsStmt, error) {
	table, err := p.dbTable()
	if err != nil {
		return nil, err
	}
	a := &addColumnsStmt{table: table}
	commands, err := splitTopLevel(p.src[p.peek().start:])
	if err != nil {
		return nil, fmt.Errorf("ALTER TABLE %s: %w", table, err)
	}
	for _, cmd := range commands {
		c, err := newTokens(cmd)
		if err != nil {
			return nil, err
		}
		if !c.accept("ADD", "COLUMN") || c.done() {
			return nil, errNoForm
		}
		a.columns = append(a.columns, cmd[c.peek().start:])
		n := len(c.toks)
		if c.toks[n-1].is("FIRST") || n-c.pos >= 3 && c.toks[n-2].is("AFTER") {
			a.placed = true
		}
	}
	return a, nil
}

// createViewStmt is a parsed CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.<view>
// TO {db}.<target> AS SELECT ...
type createViewStmt struct {
	view, target string
	query        string     // from SELECT on, as written
	refs         []tableRef // the {db}.<table> references in query
}

// tableRef is a {db}.<table> in a view's query; end is the offset in the query just
// past the table name.
type tableRef struct {
	table string
	end   int
}

// queryWith is the query with each referenced table renamed by rename.
func (v *createViewStmt) queryWith(rename func(table string) string) string {
	var b strings.Builder
	from := 0
	for _, r := range v.refs {
		b.WriteString(v.query[from : r.end-len(r.table)])
		b.WriteString(rename(r.table))
		from = r.end
	}
	b.WriteString(v.query[from:])
	return b.String()
}

func parseCreateView(p *tokens) (*createViewStmt, error) {
	view, err := p.dbTable()
	if err != nil {
		return nil, err
	}
	if err := p.expect("TO"); err != nil {
		return nil, fmt.Errorf("view %s: %w", view, err)
	}
	target, err := p.dbTable()
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", view, err)
	}
	if err := p.expect("AS"); err != nil {
		return nil, fmt.Errorf("view %s: %w", view, err)
	}
	if !p.peek().is("SELECT") {
		return nil, fmt.Errorf("view %s: expected SELECT at %q", view, p.rest())
	}
	v := &createViewStmt{view: view, target: target}
	start := p.peek().start
	v.query = p.src[start:]
	for !p.done() {
		if p.peek().text == "{db}" {
			if name, err := p.dbTable(); err == nil {
				v.refs = append(v.refs, tableRef{table: name, end: p.toks[p.pos-1].end - start})
				continue
			}
		}
		p.pos++
	}
	return v, nil
}

// columnName is the name a column definition starts with, unquoted.
func columnName(def string) string {
	return strings.Trim(firstWord(def), "`\"")
}

// firstWord is the first whitespace-separated word of s.
func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
