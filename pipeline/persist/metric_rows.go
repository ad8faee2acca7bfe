package persist

import (
	"github.com/ClickHouse/ch-go/proto"
)

// metricRows are the columns the data points of a batch's metrics events decode
// into, one row per point.
type metricRows struct {
	tenant, name, description, unit, service     strColumn
	scopeName, scopeVersion, tokenID             strColumn
	resourceSchemaURL, scopeSchemaURL            strColumn
	timestamp                                    dateTimeColumn
	time, start, count, zeroCount, seq           u64Column
	typ                                          enum8Column
	value, zeroThreshold                         f64Column
	min, max                                     nullF64Column
	intValue                                     i64Column
	isInt, temporality, monotonic, hasSum        u8Column
	flags                                        u32Column
	partition                                    u16Column
	scale, positiveOffset, negativeOffset        i32Column
	attrKeys, attrValues                         strArray
	resKeys, resValues, scopeKeys, scopeValues   sharedStrArray
	bucketCounts, positiveCounts, negativeCounts u64Array
	explicitBounds, quantiles, quantileValues    f64Array
	exemplarTimes                                u64Array
	exemplarValues                               f64Array
	exemplarTraceIDs, exemplarSpanIDs            strArray
	exemplarKeys, exemplarValuesOfKeys           strArrayArray
	arena                                        arena
}

// metricTable declares the metric_points table's columns, in the table's order.
var metricTable = tableDef[metricRows]{name: "metric_points", columns: []colDef[metricRows]{
	strCol("tenant_id", func(r *metricRows) *strColumn { return &r.tenant }),
	dateTimeCol("timestamp", func(r *metricRows) *dateTimeColumn { return &r.timestamp }),
	uint64Col("time_unix_nano", func(r *metricRows) *u64Column { return &r.time }),
	uint64Col("start_time_unix_nano", func(r *metricRows) *u64Column { return &r.start }),
	strCol("metric_name", func(r *metricRows) *strColumn { return &r.name }),
	strCol("metric_description", func(r *metricRows) *strColumn { return &r.description }),
	strCol("metric_unit", func(r *metricRows) *strColumn { return &r.unit }),
	enum8Col("metric_type", metricTypeNames, func(r *metricRows) *enum8Column { return &r.typ }),
	float64Col("value", func(r *metricRows) *f64Column { return &r.value }),
	uint64Col("count", func(r *metricRows) *u64Column { return &r.count }),
	strCol("service_name", func(r *metricRows) *strColumn { return &r.service }),
	strArrayCol("attribute_keys", func(r *metricRows) *strArray { return &r.attrKeys }),
	strArrayCol("attribute_values", func(r *metricRows) *strArray { return &r.attrValues }),
	sharedStrArrayCol("resource_attribute_keys", func(r *metricRows) *sharedStrArray { return &r.resKeys }),
	sharedStrArrayCol("resource_attribute_values", func(r *metricRows) *sharedStrArray { return &r.resValues }),
	strCol("scope_name", func(r *metricRows) *strColumn { return &r.scopeName }),
	strCol("scope_version", func(r *metricRows) *strColumn { return &r.scopeVersion }),
	strCol("token_id", func(r *metricRows) *strColumn { return &r.tokenID }),
	uint64Col("stream_seq", func(r *metricRows) *u64Column { return &r.seq }),
	uint16Col("stream_partition", func(r *metricRows) *u16Column { return &r.partition }),
	uint32Col("flags", func(r *metricRows) *u32Column { return &r.flags }),
	int64Col("int_value", func(r *metricRows) *i64Column { return &r.intValue }),
	uint8Col("value_is_int", func(r *metricRows) *u8Column { return &r.isInt }),
	uint8Col("aggregation_temporality", func(r *metricRows) *u8Column { return &r.temporality }),
	uint8Col("is_monotonic", func(r *metricRows) *u8Column { return &r.monotonic }),
	uint8Col("has_sum", func(r *metricRows) *u8Column { return &r.hasSum }),
	nullFloat64Col("min", func(r *metricRows) *nullF64Column { return &r.min }),
	nullFloat64Col("max", func(r *metricRows) *nullF64Column { return &r.max }),
	uint64ArrayCol("bucket_counts", func(r *metricRows) *u64Array { return &r.bucketCounts }),
	float64ArrayCol("explicit_bounds", func(r *metricRows) *f64Array { return &r.explicitBounds }),
	int32Col("scale", func(r *metricRows) *i32Column { return &r.scale }),
	uint64Col("zero_count", func(r *metricRows) *u64Column { return &r.zeroCount }),
	float64Col("zero_threshold", func(r *metricRows) *f64Column { return &r.zeroThreshold }),
	int32Col("positive_offset", func(r *metricRows) *i32Column { return &r.positiveOffset }),
	uint64ArrayCol("positive_bucket_counts", func(r *metricRows) *u64Array { return &r.positiveCounts }),
	int32Col("negative_offset", func(r *metricRows) *i32Column { return &r.negativeOffset }),
	uint64ArrayCol("negative_bucket_counts", func(r *metricRows) *u64Array { return &r.negativeCounts }),
	float64ArrayCol("quantiles", func(r *metricRows) *f64Array { return &r.quantiles }),
	float64ArrayCol("quantile_values", func(r *metricRows) *f64Array { return &r.quantileValues }),
	uint64ArrayCol("exemplar_times", func(r *metricRows) *u64Array { return &r.exemplarTimes }),
	float64ArrayCol("exemplar_values", func(r *metricRows) *f64Array { return &r.exemplarValues }),
	strArrayCol("exemplar_trace_ids", func(r *metricRows) *strArray { return &r.exemplarTraceIDs }),
	strArrayCol("exemplar_span_ids", func(r *metricRows) *strArray { return &r.exemplarSpanIDs }),
	strArrayArrayCol("exemplar_attribute_keys", func(r *metricRows) *strArrayArray { return &r.exemplarKeys }),
	strArrayArrayCol("exemplar_attribute_values", func(r *metricRows) *strArrayArray { return &r.exemplarValuesOfKeys }),
	sharedStrArrayCol("scope_attribute_keys", func(r *metricRows) *sharedStrArray { return &r.scopeKeys }),
	sharedStrArrayCol("scope_attribute_values", func(r *metricRows) *sharedStrArray { return &r.scopeValues }),
	strCol("resource_schema_url", func(r *metricRows) *strColumn { return &r.resourceSchemaURL }),
	strCol("scope_schema_url", func(r *metricRows) *strColumn { return &r.scopeSchemaURL }),
}}

// metricInfo is what every point of a metric stores of it.
type metricInfo struct {
	name, description, unit string
	typ                     proto.Enum8
}

// add appends the row of one data point.
func (r *metricRows) add(meta eventMeta, res *resourceInfo, sc *scopeInfo, m *metricInfo, p *point) {
	ex := &p.exemplars
	r.tenant.Append(meta.tenant)
	r.timestamp.appendNanos(uint64(p.time))
	r.time.append(uint64(p.time))
	r.start.append(uint64(p.start))
	r.name.Append(m.name)
	r.description.Append(m.description)
	r.unit.Append(m.unit)
	r.typ.append(m.typ)
	r.value.append(p.value)
	r.count.append(p.count)
	r.service.Append(res.service)
	appendStrings(&r.attrKeys, p.keys)
	appendStrings(&r.attrValues, p.values)
	r.resKeys.appendRow(res.keys, res.id)
	r.resValues.appendRow(res.values, res.id)
	r.scopeName.Append(sc.name)
	r.scopeVersion.Append(sc.version)
	r.tokenID.Append(meta.tokenID)
	r.seq.append(meta.seq)
	r.partition.append(meta.partition)
	r.flags.append(p.flags)
	r.intValue.append(p.intValue)
	r.isInt.append(boolByte(p.isInt))
	r.temporality.append(p.temporality)
	r.monotonic.append(boolByte(p.monotonic))
	r.hasSum.append(boolByte(p.hasSum))
	r.min.append(p.min)
	r.max.append(p.max)
	appendValues(&r.bucketCounts, p.bucketCounts)
	appendValues(&r.explicitBounds, p.explicitBounds)
	r.scale.append(p.scale)
	r.zeroCount.append(p.zeroCount)
	r.zeroThreshold.append(p.zeroThreshold)
	r.positiveOffset.append(p.positiveOffset)
	appendValues(&r.positiveCounts, p.positiveCounts)
	r.negativeOffset.append(p.negativeOffset)
	appendValues(&r.negativeCounts, p.negativeCounts)
	appendValues(&r.quantiles, p.quantiles)
	appendValues(&r.quantileValues, p.quantileValues)
	appendValues(&r.exemplarTimes, ex.times)
	appendValues(&r.exemplarValues, ex.values)
	appendStrings(&r.exemplarTraceIDs, ex.traceIDs)
	appendStrings(&r.exemplarSpanIDs, ex.spanIDs)
	appendStringRows(&r.exemplarKeys, ex.keys)
	appendStringRows(&r.exemplarValuesOfKeys, ex.attrValues)
	r.scopeKeys.appendRow(sc.keys, sc.id)
	r.scopeValues.appendRow(sc.values, sc.id)
	r.resourceSchemaURL.Append(res.schemaURL)
	r.scopeSchemaURL.Append(sc.schemaURL)
}
