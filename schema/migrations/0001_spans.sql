-- Spans, one row per span. Portable: ClickHouse 18.16 and current releases.
-- Tenant first in the sort key (every query is tenant-scoped), then time; day partitions
-- so retention drops whole partitions. Attributes are parallel key/value arrays; values
-- are strings (non-string OTLP values in their JSON form). stream_seq is the JetStream
-- sequence of the event the row came from.
CREATE TABLE IF NOT EXISTS {db}.spans
(
    tenant_id String,
    timestamp DateTime,
    start_time_unix_nano UInt64,
    end_time_unix_nano UInt64,
    duration_ns UInt64,
    trace_id String,
    span_id String,
    parent_span_id String,
    trace_state String,
    name String,
    kind Enum8('unspecified' = 0, 'internal' = 1, 'server' = 2, 'client' = 3, 'producer' = 4, 'consumer' = 5),
    status_code Enum8('unset' = 0, 'ok' = 1, 'error' = 2),
    status_message String,
    service_name String,
    attribute_keys Array(String),
    attribute_values Array(String),
    resource_attribute_keys Array(String),
    resource_attribute_values Array(String),
    scope_name String,
    scope_version String,
    token_id String,
    stream_seq UInt64
)
ENGINE = MergeTree()
PARTITION BY toDate(timestamp)
ORDER BY (tenant_id, timestamp, trace_id, span_id);
