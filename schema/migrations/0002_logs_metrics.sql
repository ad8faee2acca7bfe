-- Log records and metric data points. Portable: ClickHouse 18.16 and current releases.
-- Same conventions as spans: tenant first in the sort key, day partitions, attributes as
-- parallel key/value arrays, the stream sequence of the source event on every row.
CREATE TABLE IF NOT EXISTS {db}.logs
(
    tenant_id String,
    timestamp DateTime,
    time_unix_nano UInt64,
    observed_time_unix_nano UInt64,
    severity_number UInt8,
    severity_text String,
    body String,
    trace_id String,
    span_id String,
    flags UInt32,
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
ORDER BY (tenant_id, timestamp, service_name);

-- One row per data point of every metric type. value is a gauge's or sum's value, or a
-- histogram's / summary's sum; count is the histogram's or summary's count.
CREATE TABLE IF NOT EXISTS {db}.metric_points
(
    tenant_id String,
    timestamp DateTime,
    time_unix_nano UInt64,
    start_time_unix_nano UInt64,
    metric_name String,
    metric_description String,
    metric_unit String,
    metric_type Enum8('empty' = 0, 'gauge' = 1, 'sum' = 2, 'histogram' = 3, 'exponential_histogram' = 4, 'summary' = 5),
    value Float64,
    count UInt64,
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
ORDER BY (tenant_id, metric_name, timestamp);
