package ingest

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The three signals' requests have one shape: resources holding scopes holding items
// (spans, metrics, log records). pdata gives each its own types with the same
// methods, so one generic tree serves all three, told the few signal-specific
// accessors by a signalShape.

// pdataSlice is a pdata slice: ResourceSpansSlice, ScopeLogsSlice, SpanSlice, ...
type pdataSlice[T any] interface {
	Len() int
	At(i int) T
	AppendEmpty() T
}

// copier is a pdata element that copies itself into another of its type.
type copier[T any] interface{ CopyTo(dest T) }

// resourceNode is a ResourceSpans, ResourceMetrics or ResourceLogs.
type resourceNode[T any] interface {
	copier[T]
	Resource() pcommon.Resource
	SchemaUrl() string
	SetSchemaUrl(string)
}

// scopeNode is a ScopeSpans, ScopeMetrics or ScopeLogs.
type scopeNode[T any] interface {
	copier[T]
	Scope() pcommon.InstrumentationScope
	SchemaUrl() string
	SetSchemaUrl(string)
}

// signalShape names, for one signal, the accessors and encoded sizes the tree needs.
type signalShape[Root any, RL pdataSlice[R], R resourceNode[R], SL pdataSlice[S], S scopeNode[S], IL pdataSlice[I], I copier[I]] struct {
	newRoot      func() Root
	resources    func(Root) RL
	scopes       func(R) SL
	items        func(S) IL
	resourceSize func(R) int
	scopeSize    func(S) int
	itemSize     func(I) int
	marshal      func(Root) ([]byte, error)
}

// signalTree is a requestTree over one signal's request. Besides the source it keeps
// the part being built and which source resource and scope its last copies came from
// (-1: none), so consecutive items of one scope share one copy of their resource and
// scope.
type signalTree[Root any, RL pdataSlice[R], R resourceNode[R], SL pdataSlice[S], S scopeNode[S], IL pdataSlice[I], I copier[I]] struct {
	shape      signalShape[Root, RL, R, SL, S, IL, I]
	src        RL
	cur        Root
	rs         R
	ss         S
	res, scope int
}

func newSignalTree[Root any, RL pdataSlice[R], R resourceNode[R], SL pdataSlice[S], S scopeNode[S], IL pdataSlice[I], I copier[I]](
	shape signalShape[Root, RL, R, SL, S, IL, I], src RL) *signalTree[Root, RL, R, SL, S, IL, I] {
	return &signalTree[Root, RL, R, SL, S, IL, I]{shape: shape, src: src, cur: shape.newRoot(), res: -1, scope: -1}
}

func (t *signalTree[Root, RL, R, SL, S, IL, I]) count(path []int) int {
	switch len(path) {
	case 0:
		return t.src.Len()
	case 1:
		return t.shape.scopes(t.src.At(path[0])).Len()
	}
	return t.shape.items(t.shape.scopes(t.src.At(path[0])).At(path[1])).Len()
}

func (t *signalTree[Root, RL, R, SL, S, IL, I]) size(path []int) int {
	rs := t.src.At(path[0])
	switch len(path) {
	case 1:
		return t.shape.resourceSize(rs)
	case 2:
		return t.shape.scopeSize(t.shape.scopes(rs).At(path[1]))
	}
	return t.shape.itemSize(t.shape.items(t.shape.scopes(rs).At(path[1])).At(path[2]))
}

func (t *signalTree[Root, RL, R, SL, S, IL, I]) add(path []int) {
	rs := t.src.At(path[0])
	if len(path) == 1 {
		rs.CopyTo(t.shape.resources(t.cur).AppendEmpty())
		t.res, t.scope = -1, -1
		return
	}
	if t.res != path[0] {
		t.rs = t.shape.resources(t.cur).AppendEmpty()
		rs.Resource().CopyTo(t.rs.Resource())
		t.rs.SetSchemaUrl(rs.SchemaUrl())
		t.res, t.scope = path[0], -1
	}
	ss := t.shape.scopes(rs).At(path[1])
	if len(path) == 2 {
		ss.CopyTo(t.shape.scopes(t.rs).AppendEmpty())
		t.scope = -1
		return
	}
	if t.scope != path[1] {
		t.ss = t.shape.scopes(t.rs).AppendEmpty()
		ss.Scope().CopyTo(t.ss.Scope())
		t.ss.SetSchemaUrl(ss.SchemaUrl())
		t.scope = path[1]
	}
	t.shape.items(ss).At(path[2]).CopyTo(t.shape.items(t.ss).AppendEmpty())
}

func (t *signalTree[Root, RL, R, SL, S, IL, I]) flush() ([]byte, error) {
	b, err := t.shape.marshal(t.cur)
	t.cur, t.res, t.scope = t.shape.newRoot(), -1, -1
	return b, err
}

func newTracesTree(src ptrace.ResourceSpansSlice) requestTree {
	var m ptrace.ProtoMarshaler
	return newSignalTree(signalShape[ptrace.Traces, ptrace.ResourceSpansSlice, ptrace.ResourceSpans,
		ptrace.ScopeSpansSlice, ptrace.ScopeSpans, ptrace.SpanSlice, ptrace.Span]{
		newRoot:      ptrace.NewTraces,
		resources:    ptrace.Traces.ResourceSpans,
		scopes:       ptrace.ResourceSpans.ScopeSpans,
		items:        ptrace.ScopeSpans.Spans,
		resourceSize: m.ResourceSpansSize,
		scopeSize:    m.ScopeSpansSize,
		itemSize:     m.SpanSize,
		marshal: func(td ptrace.Traces) ([]byte, error) {
			return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		},
	}, src)
}

func newMetricsTree(src pmetric.ResourceMetricsSlice) requestTree {
	var m pmetric.ProtoMarshaler
	return newSignalTree(signalShape[pmetric.Metrics, pmetric.ResourceMetricsSlice, pmetric.ResourceMetrics,
		pmetric.ScopeMetricsSlice, pmetric.ScopeMetrics, pmetric.MetricSlice, pmetric.Metric]{
		newRoot:      pmetric.NewMetrics,
		resources:    pmetric.Metrics.ResourceMetrics,
		scopes:       pmetric.ResourceMetrics.ScopeMetrics,
		items:        pmetric.ScopeMetrics.Metrics,
		resourceSize: m.ResourceMetricsSize,
		scopeSize:    m.ScopeMetricsSize,
		itemSize:     m.MetricSize,
		marshal: func(md pmetric.Metrics) ([]byte, error) {
			return pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		},
	}, src)
}

func newLogsTree(src plog.ResourceLogsSlice) requestTree {
	var m plog.ProtoMarshaler
	return newSignalTree(signalShape[plog.Logs, plog.ResourceLogsSlice, plog.ResourceLogs,
		plog.ScopeLogsSlice, plog.ScopeLogs, plog.LogRecordSlice, plog.LogRecord]{
		newRoot:      plog.NewLogs,
		resources:    plog.Logs.ResourceLogs,
		scopes:       plog.ResourceLogs.ScopeLogs,
		items:        plog.ScopeLogs.LogRecords,
		resourceSize: m.ResourceLogsSize,
		scopeSize:    m.ScopeLogsSize,
		itemSize:     m.LogRecordSize,
		marshal: func(ld plog.Logs) ([]byte, error) {
			return plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		},
	}, src)
}
