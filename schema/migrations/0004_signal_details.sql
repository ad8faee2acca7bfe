-- The rest of what OTLP carries, so the projection holds every signal completely.
-- Portable: ClickHouse 18.16 and current releases. One column per ALTER: the runner
-- treats "column already exists" as applied (18.16 has no ADD COLUMN IF NOT EXISTS),
-- so a migration that stopped halfway can run again. New columns take their type's
-- default on rows written before this migration.
--
-- Spans: span flags, dropped counts, and events and links as parallel arrays (one
-- element per event / link; their attributes as arrays of key and value arrays).
ALTER TABLE {db}.spans ADD COLUMN flags UInt32 DEFAULT 0;
ALTER TABLE {db}.spans ADD COLUMN dropped_attributes_count UInt32 DEFAULT 0;
ALTER TABLE {db}.spans ADD COLUMN dropped_events_count UInt32 DEFAULT 0;
ALTER TABLE {db}.spans ADD COLUMN dropped_links_count UInt32 DEFAULT 0;
ALTER TABLE {db}.spans ADD COLUMN event_times Array(UInt64);
ALTER TABLE {db}.spans ADD COLUMN event_names Array(String);
ALTER TABLE {db}.spans ADD COLUMN event_attribute_keys Array(Array(String));
ALTER TABLE {db}.spans ADD COLUMN event_attribute_values Array(Array(String));
ALTER TABLE {db}.spans ADD COLUMN event_dropped_attributes_counts Array(UInt32);
ALTER TABLE {db}.spans ADD COLUMN link_trace_ids Array(String);
ALTER TABLE {db}.spans ADD COLUMN link_span_ids Array(String);
ALTER TABLE {db}.spans ADD COLUMN link_trace_states Array(String);
ALTER TABLE {db}.spans ADD COLUMN link_flags Array(UInt32);
ALTER TABLE {db}.spans ADD COLUMN link_attribute_keys Array(Array(String));
ALTER TABLE {db}.spans ADD COLUMN link_attribute_values Array(Array(String));
ALTER TABLE {db}.spans ADD COLUMN link_dropped_attributes_counts Array(UInt32);
ALTER TABLE {db}.spans ADD COLUMN scope_attribute_keys Array(String);
ALTER TABLE {db}.spans ADD COLUMN scope_attribute_values Array(String);
ALTER TABLE {db}.spans ADD COLUMN resource_schema_url String DEFAULT '';
ALTER TABLE {db}.spans ADD COLUMN scope_schema_url String DEFAULT '';
--
-- Logs: the event name (OTLP 1.5+), dropped attribute count, scope attributes.
ALTER TABLE {db}.logs ADD COLUMN event_name String DEFAULT '';
ALTER TABLE {db}.logs ADD COLUMN dropped_attributes_count UInt32 DEFAULT 0;
ALTER TABLE {db}.logs ADD COLUMN scope_attribute_keys Array(String);
ALTER TABLE {db}.logs ADD COLUMN scope_attribute_values Array(String);
ALTER TABLE {db}.logs ADD COLUMN resource_schema_url String DEFAULT '';
ALTER TABLE {db}.logs ADD COLUMN scope_schema_url String DEFAULT '';
--
-- Metric points. value stays a gauge's or sum's value (as a float) or a histogram's /
-- summary's sum; int_value keeps an integer point exactly (Float64 loses precision
-- past 2^53) and value_is_int says which kind the point was. aggregation_temporality
-- is OTLP's number (0 unspecified, 1 delta, 2 cumulative), as the OpenTelemetry
-- ClickHouse exporter stores it (chosen when the runner's one-column ALTER check could
-- not read an Enum8's commas; it parses them now). min/max are NULL when the point has none.
ALTER TABLE {db}.metric_points ADD COLUMN flags UInt32 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN int_value Int64 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN value_is_int UInt8 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN aggregation_temporality UInt8 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN is_monotonic UInt8 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN has_sum UInt8 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN min Nullable(Float64);
ALTER TABLE {db}.metric_points ADD COLUMN max Nullable(Float64);
-- Histogram: len(bucket_counts) = len(explicit_bounds) + 1.
ALTER TABLE {db}.metric_points ADD COLUMN bucket_counts Array(UInt64);
ALTER TABLE {db}.metric_points ADD COLUMN explicit_bounds Array(Float64);
-- Exponential histogram.
ALTER TABLE {db}.metric_points ADD COLUMN scale Int32 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN zero_count UInt64 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN zero_threshold Float64 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN positive_offset Int32 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN positive_bucket_counts Array(UInt64);
ALTER TABLE {db}.metric_points ADD COLUMN negative_offset Int32 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN negative_bucket_counts Array(UInt64);
-- Summary: quantiles[i] (0..1) has the value quantile_values[i].
ALTER TABLE {db}.metric_points ADD COLUMN quantiles Array(Float64);
ALTER TABLE {db}.metric_points ADD COLUMN quantile_values Array(Float64);
-- Exemplars, parallel arrays; an int exemplar's value is stored as a float.
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_times Array(UInt64);
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_values Array(Float64);
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_trace_ids Array(String);
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_span_ids Array(String);
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_attribute_keys Array(Array(String));
ALTER TABLE {db}.metric_points ADD COLUMN exemplar_attribute_values Array(Array(String));
ALTER TABLE {db}.metric_points ADD COLUMN scope_attribute_keys Array(String);
ALTER TABLE {db}.metric_points ADD COLUMN scope_attribute_values Array(String);
ALTER TABLE {db}.metric_points ADD COLUMN resource_schema_url String DEFAULT '';
ALTER TABLE {db}.metric_points ADD COLUMN scope_schema_url String DEFAULT '';
