package persist

import (
	"time"

	"github.com/ClickHouse/ch-go/proto"
)

// metricRows are the rows of one metrics event (one per data point), column by column.
type metricRows struct {
	tenant, name, description, unit, service     []string
	scopeName, scopeVersion, tokenID             []string
	resourceSchemaURL, scopeSchemaURL            []string
	timestamp                                    []time.Time
	time, start, count, zeroCount, seq           []uint64
	typ                                          []proto.Enum8
	value, zeroThreshold                         []float64
	min, max                                     []proto.Nullable[float64]
	intValue                                     []int64
	isInt, temporality, monotonic, hasSum        []uint8
	flags                                        []uint32
	partition                                    []uint16
	scale, positiveOffset, negativeOffset        []int32
	attrKeys, attrValues, resKeys, resValues     [][]string
	scopeKeys, scopeValues                       [][]string
	bucketCounts, positiveCounts, negativeCounts [][]uint64
	explicitBounds, quantiles, quantileValues    [][]float64
	exemplarTimes                                [][]uint64
	exemplarValues                               [][]float64
	exemplarTraceIDs, exemplarSpanIDs            [][]string
	exemplarKeys, exemplarValuesOfKeys           [][][]string
	arena                                        arena
}

func (r *metricRows) len() int { return len(r.seq) }

func (r *metricRows) dateTimeRange() (lo, hi uint32) { return timeRange(r.timestamp) }

// metricTable declares the metric_points table's columns, in the table's order.
var metricTable = tableDef[metricRows]{name: "metric_points", columns: []colDef[metricRows]{
	strCol("tenant_id", func(r *metricRows) []string { return r.tenant }),
	dateTimeCol("timestamp", func(r *metricRows) []time.Time { return r.timestamp }),
	uint64Col("time_unix_nano", func(r *metricRows) []uint64 { return r.time }),
	uint64Col("start_time_unix_nano", func(r *metricRows) []uint64 { return r.start }),
	strCol("metric_name", func(r *metricRows) []string { return r.name }),
	strCol("metric_description", func(r *metricRows) []string { return r.description }),
	strCol("metric_unit", func(r *metricRows) []string { return r.unit }),
	enum8Col("metric_type", metricTypeNames, func(r *metricRows) []proto.Enum8 { return r.typ }),
	float64Col("value", func(r *metricRows) []float64 { return r.value }),
	uint64Col("count", func(r *metricRows) []uint64 { return r.count }),
	strCol("service_name", func(r *metricRows) []string { return r.service }),
	strArrayCol("attribute_keys", func(r *metricRows) [][]string { return r.attrKeys }),
	strArrayCol("attribute_values", func(r *metricRows) [][]string { return r.attrValues }),
	strArrayCol("resource_attribute_keys", func(r *metricRows) [][]string { return r.resKeys }),
	strArrayCol("resource_attribute_values", func(r *metricRows) [][]string { return r.resValues }),
	strCol("scope_name", func(r *metricRows) []string { return r.scopeName }),
	strCol("scope_version", func(r *metricRows) []string { return r.scopeVersion }),
	strCol("token_id", func(r *metricRows) []string { return r.tokenID }),
	uint64Col("stream_seq", func(r *metricRows) []uint64 { return r.seq }),
	uint16Col("stream_partition", func(r *metricRows) []uint16 { return r.partition }),
	uint32Col("flags", func(r *metricRows) []uint32 { return r.flags }),
	int64Col("int_value", func(r *metricRows) []int64 { return r.intValue }),
	uint8Col("value_is_int", func(r *metricRows) []uint8 { return r.isInt }),
	uint8Col("aggregation_temporality", func(r *metricRows) []uint8 { return r.temporality }),
	uint8Col("is_monotonic", func(r *metricRows) []uint8 { return r.monotonic }),
	uint8Col("has_sum", func(r *metricRows) []uint8 { return r.hasSum }),
	nullFloat64Col("min", func(r *metricRows) []proto.Nullable[float64] { return r.min }),
	nullFloat64Col("max", func(r *metricRows) []proto.Nullable[float64] { return r.max }),
	uint64ArrayCol("bucket_counts", func(r *metricRows) [][]uint64 { return r.bucketCounts }),
	float64ArrayCol("explicit_bounds", func(r *metricRows) [][]float64 { return r.explicitBounds }),
	int32Col("scale", func(r *metricRows) []int32 { return r.scale }),
	uint64Col("zero_count", func(r *metricRows) []uint64 { return r.zeroCount }),
	float64Col("zero_threshold", func(r *metricRows) []float64 { return r.zeroThreshold }),
	int32Col("positive_offset", func(r *metricRows) []int32 { return r.positiveOffset }),
	uint64ArrayCol("positive_bucket_counts", func(r *metricRows) [][]uint64 { return r.positiveCounts }),
	int32Col("negative_offset", func(r *metricRows) []int32 { return r.negativeOffset }),
	uint64ArrayCol("negative_bucket_counts", func(r *metricRows) [][]uint64 { return r.negativeCounts }),
	float64ArrayCol("quantiles", func(r *metricRows) [][]float64 { return r.quantiles }),
	float64ArrayCol("quantile_values", func(r *metricRows) [][]float64 { return r.quantileValues }),
	uint64ArrayCol("exemplar_times", func(r *metricRows) [][]uint64 { return r.exemplarTimes }),
	float64ArrayCol("exemplar_values", func(r *metricRows) [][]float64 { return r.exemplarValues }),
	strArrayCol("exemplar_trace_ids", func(r *metricRows) [][]string { return r.exemplarTraceIDs }),
	strArrayCol("exemplar_span_ids", func(r *metricRows) [][]string { return r.exemplarSpanIDs }),
	strArrayArrayCol("exemplar_attribute_keys", func(r *metricRows) [][][]string { return r.exemplarKeys }),
	strArrayArrayCol("exemplar_attribute_values", func(r *metricRows) [][][]string { return r.exemplarValuesOfKeys }),
	strArrayCol("scope_attribute_keys", func(r *metricRows) [][]string { return r.scopeKeys }),
	strArrayCol("scope_attribute_values", func(r *metricRows) [][]string { return r.scopeValues }),
	strCol("resource_schema_url", func(r *metricRows) []string { return r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *metricRows) []string { return r.scopeSchemaURL }),
}}

// metricInfo is what every point of a metric stores of it.
type metricInfo struct {
	name, description, unit string
	typ                     proto.Enum8
}

// add appends the row of one data point.
func (r *metricRows) add(meta eventMeta, res *resourceInfo, sc *scopeInfo, m *metricInfo, p *point) {
	ex := &p.exemplars
	r.tenant, r.timestamp = append(r.tenant, meta.tenant), append(r.timestamp, nanosTime(uint64(p.time)))
	r.time, r.start = append(r.time, uint64(p.time)), append(r.start, uint64(p.start))
	r.name, r.description, r.unit, r.typ = append(r.name, m.name), append(r.description, m.description), append(r.unit, m.unit), append(r.typ, m.typ)
	r.value, r.count, r.service = append(r.value, p.value), append(r.count, p.count), append(r.service, res.service)
	r.attrKeys, r.attrValues = append(r.attrKeys, p.keys), append(r.attrValues, p.values)
	r.resKeys, r.resValues = append(r.resKeys, res.keys), append(r.resValues, res.values)
	r.scopeName, r.scopeVersion = append(r.scopeName, sc.name), append(r.scopeVersion, sc.version)
	r.tokenID, r.seq, r.partition = append(r.tokenID, meta.tokenID), append(r.seq, meta.seq), append(r.partition, meta.partition)
	r.flags, r.intValue, r.isInt = append(r.flags, p.flags), append(r.intValue, p.intValue), append(r.isInt, boolByte(p.isInt))
	r.temporality, r.monotonic, r.hasSum = append(r.temporality, p.temporality), append(r.monotonic, boolByte(p.monotonic)), append(r.hasSum, boolByte(p.hasSum))
	r.min, r.max = append(r.min, p.min), append(r.max, p.max)
	r.bucketCounts, r.explicitBounds = append(r.bucketCounts, p.bucketCounts), append(r.explicitBounds, p.explicitBounds)
	r.scale, r.zeroCount, r.zeroThreshold = append(r.scale, p.scale), append(r.zeroCount, p.zeroCount), append(r.zeroThreshold, p.zeroThreshold)
	r.positiveOffset, r.positiveCounts = append(r.positiveOffset, p.positiveOffset), append(r.positiveCounts, p.positiveCounts)
	r.negativeOffset, r.negativeCounts = append(r.negativeOffset, p.negativeOffset), append(r.negativeCounts, p.negativeCounts)
	r.quantiles, r.quantileValues = append(r.quantiles, p.quantiles), append(r.quantileValues, p.quantileValues)
	r.exemplarTimes, r.exemplarValues = append(r.exemplarTimes, ex.times), append(r.exemplarValues, ex.values)
	r.exemplarTraceIDs, r.exemplarSpanIDs = append(r.exemplarTraceIDs, ex.traceIDs), append(r.exemplarSpanIDs, ex.spanIDs)
	r.exemplarKeys, r.exemplarValuesOfKeys = append(r.exemplarKeys, ex.keys), append(r.exemplarValuesOfKeys, ex.attrValues)
	r.scopeKeys, r.scopeValues = append(r.scopeKeys, sc.keys), append(r.scopeValues, sc.values)
	r.resourceSchemaURL, r.scopeSchemaURL = append(r.resourceSchemaURL, res.schemaURL), append(r.scopeSchemaURL, sc.schemaURL)
}

// reserve sizes every column for n rows.
func (r *metricRows) reserve(n int) {
	reserve(n, &r.tenant, &r.name, &r.description, &r.unit, &r.service, &r.scopeName, &r.scopeVersion,
		&r.tokenID, &r.resourceSchemaURL, &r.scopeSchemaURL)
	reserve(n, &r.timestamp)
	reserve(n, &r.time, &r.start, &r.count, &r.zeroCount, &r.seq)
	reserve(n, &r.typ)
	reserve(n, &r.value, &r.zeroThreshold)
	reserve(n, &r.min, &r.max)
	reserve(n, &r.intValue)
	reserve(n, &r.isInt, &r.temporality, &r.monotonic, &r.hasSum)
	reserve(n, &r.flags)
	reserve(n, &r.partition)
	reserve(n, &r.scale, &r.positiveOffset, &r.negativeOffset)
	reserve(n, &r.attrKeys, &r.attrValues, &r.resKeys, &r.resValues, &r.scopeKeys, &r.scopeValues,
		&r.exemplarTraceIDs, &r.exemplarSpanIDs)
	reserve(n, &r.bucketCounts, &r.positiveCounts, &r.negativeCounts, &r.exemplarTimes)
	reserve(n, &r.explicitBounds, &r.quantiles, &r.quantileValues, &r.exemplarValues)
	reserve(n, &r.exemplarKeys, &r.exemplarValuesOfKeys)
}

// reserve makes each column an empty slice with room for n values.
func reserve[T any](n int, columns ...*[]T) {
	for _, c := range columns {
		*c = make([]T, 0, n)
	}
}
