-- Lookup tables fed by materialized views. Portable: ClickHouse 18.16 and current
-- releases (AggregatingMergeTree with -State columns read back with -Merge; 18.16 has
-- no SimpleAggregateFunction). A view sees only rows inserted after it exists: rows
-- written before this migration are not indexed.
--
-- trace_index finds a trace's time range by id without scanning every spans partition:
-- sorted by (tenant_id, trace_id), one row per trace and day once merged. Read it with
--   SELECT minMerge(min_timestamp), maxMerge(max_timestamp) FROM trace_index
--   WHERE tenant_id = ? AND trace_id = ?
-- and then query spans in that timestamp range. Day partitions so retention drops it
-- with the spans.
CREATE TABLE IF NOT EXISTS {db}.trace_index
(
    tenant_id String,
    trace_id String,
    day Date,
    min_timestamp AggregateFunction(min, DateTime),
    max_timestamp AggregateFunction(max, DateTime),
    min_start_time_unix_nano AggregateFunction(min, UInt64),
    max_end_time_unix_nano AggregateFunction(max, UInt64),
    span_count AggregateFunction(count)
)
ENGINE = AggregatingMergeTree()
PARTITION BY day
ORDER BY (tenant_id, trace_id);

-- Aliases differ from the spans columns they aggregate: in 18.16 an alias equal to a
-- source column's name makes the expression refer to itself.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_index_mv TO {db}.trace_index AS
SELECT
    tenant_id,
    trace_id,
    toDate(timestamp) AS day,
    minState(timestamp) AS min_timestamp,
    maxState(timestamp) AS max_timestamp,
    minState(start_time_unix_nano) AS min_start_time_unix_nano,
    maxState(end_time_unix_nano) AS max_end_time_unix_nano,
    countState() AS span_count
FROM {db}.spans
WHERE trace_id != ''
GROUP BY tenant_id, trace_id, day;

-- services lists every service seen in any signal, per tenant and version, with when it
-- was first and last seen and the resource attributes of its latest row (keys and
-- values as one tuple so both come from the same row). Read it with
--   SELECT service_name, service_version, minMerge(first_seen), maxMerge(last_seen),
--          argMaxMerge(latest_resource_attributes) FROM services WHERE tenant_id = ?
--   GROUP BY service_name, service_version
-- Small (one row per service once merged), so unpartitioned.
CREATE TABLE IF NOT EXISTS {db}.services
(
    tenant_id String,
    service_name String,
    service_version String,
    first_seen AggregateFunction(min, DateTime),
    last_seen AggregateFunction(max, DateTime),
    latest_resource_attributes AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)
)
ENGINE = AggregatingMergeTree()
ORDER BY (tenant_id, service_name, service_version);

-- One view per signal table; indexOf gives 0 for a missing key and [0] the empty string.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.services_from_spans_mv TO {db}.services AS
SELECT
    tenant_id,
    service_name,
    resource_attribute_values[indexOf(resource_attribute_keys, 'service.version')] AS service_version,
    minState(timestamp) AS first_seen,
    maxState(timestamp) AS last_seen,
    argMaxState((resource_attribute_keys, resource_attribute_values), timestamp) AS latest_resource_attributes
FROM {db}.spans
WHERE service_name != ''
GROUP BY tenant_id, service_name, service_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.services_from_logs_mv TO {db}.services AS
SELECT
    tenant_id,
    service_name,
    resource_attribute_values[indexOf(resource_attribute_keys, 'service.version')] AS service_version,
    minState(timestamp) AS first_seen,
    maxState(timestamp) AS last_seen,
    argMaxState((resource_attribute_keys, resource_attribute_values), timestamp) AS latest_resource_attributes
FROM {db}.logs
WHERE service_name != ''
GROUP BY tenant_id, service_name, service_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.services_from_metrics_mv TO {db}.services AS
SELECT
    tenant_id,
    service_name,
    resource_attribute_values[indexOf(resource_attribute_keys, 'service.version')] AS service_version,
    minState(timestamp) AS first_seen,
    maxState(timestamp) AS last_seen,
    argMaxState((resource_attribute_keys, resource_attribute_values), timestamp) AS latest_resource_attributes
FROM {db}.metric_points
WHERE service_name != ''
GROUP BY tenant_id, service_name, service_version;
