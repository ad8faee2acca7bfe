package fetch

import "strings"

// The WHERE terms the list endpoints share, written once so that a filter means the
// same on every signal. Column names come from this package's constants, never from a
// request; every value is bound (?).

// nanoWindow returns the WHERE terms every signal query starts with: the tenant, then
// the partition/sort column (seconds), then the exact nanosecond window on column
// (start_time_unix_nano for spans, time_unix_nano for logs and metric points).
func (q query) nanoWindow(tenant, column string) (string, []any) {
	where := "tenant_id = ? AND timestamp >= toDateTime(?) AND timestamp <= toDateTime(?)" +
		" AND " + column + " >= ? AND " + column + " < ?"
	return where, []any{tenant, q.start.Unix(), q.end.Unix(), uint64(q.start.UnixNano()), uint64(q.end.UnixNano())}
}

// spanWhere is nanoWindow for the spans table.
func (q query) spanWhere(tenant string) (string, []any) {
	return q.nanoWindow(tenant, "start_time_unix_nano")
}

// whereEq appends "column = value" when value is given ("" = any).
func whereEq(where string, args []any, column, value string) (string, []any) {
	if value == "" {
		return where, args
	}
	return where + " AND " + column + " = ?", append(args, value)
}

// attrWhere turns the attr.<key>=<value> filters into WHERE terms, with the meaning
// docs/api.md gives them on every endpoint:
//   - a row matches a key when the row or its resource (service.version,
//     deployment.environment ...) has that key with one of the values given for it:
//     a repeated key (attr.k=a&attr.k=b) is OR, as a service_name IN list would be;
//   - a row must match every key given (AND across keys);
//   - when a row carries a key twice (OTLP forbids it, the receiver keeps it as sent),
//     any of its values matches.
//
// arrayExists over the parallel key/value arrays matches key and value at the same
// index (has() on each array alone would match a key with another key's value);
// has() first lets a skip index on the keys, and newer servers' short-circuit
// evaluation, pass over rows without the key. attrs arrive grouped by key
// (parseAttrs sorts them).
func attrWhere(attrs []attrFilter) (string, []any) {
	var sb strings.Builder
	var args []any
	for i := 0; i < len(attrs); {
		key := attrs[i].key
		var values []any
		for ; i < len(attrs) && attrs[i].key == key; i++ {
			values = append(values, attrs[i].value)
		}
		match := "v = ?"
		if len(values) > 1 {
			match = "(v = ?" + strings.Repeat(" OR v = ?", len(values)-1) + ")"
		}
		sb.WriteString(" AND ((has(attribute_keys, ?) AND arrayExists((k, v) -> k = ? AND " + match +
			", attribute_keys, attribute_values)) OR (has(resource_attribute_keys, ?) AND arrayExists((k, v) -> k = ? AND " +
			match + ", resource_attribute_keys, resource_attribute_values)))")
		args = append(append(append(args, key, key), values...), key, key)
		args = append(args, values...)
	}
	return sb.String(), args
}

// andTerm is " AND term", or "" when there is no term.
func andTerm(term string) string {
	if term == "" {
		return ""
	}
	return " AND " + term
}
