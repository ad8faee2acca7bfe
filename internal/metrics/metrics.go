// Package metrics holds telemetryd's own Prometheus metrics. One *Metrics is made per
// process and handed to the components that update it; nothing here is global.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's counters, gauges and histograms.
type Metrics struct {
	registry *prometheus.Registry

	Requests       *prometheus.CounterVec   // route, code
	RequestSeconds *prometheus.HistogramVec // route
	BytesIn        *prometheus.CounterVec   // signal
	ItemsAccepted  *prometheus.CounterVec   // signal
	ItemsRejected  *prometheus.CounterVec   // signal, reason
	ItemsPersisted *prometheus.CounterVec   // table
	BatchEvents    prometheus.Histogram
	InsertSeconds  *prometheus.HistogramVec // table
	ConsumerLag    *prometheus.GaugeVec     // partition
	DeadLetters    prometheus.Counter
	RateLimited    *prometheus.CounterVec // surface: ingest or api
	// OTLP/gRPC calls, the twins of Requests and RequestSeconds for the gRPC listener.
	GRPCRequests       *prometheus.CounterVec   // signal, code
	GRPCRequestSeconds *prometheus.HistogramVec // signal

	// DeadLetterFailures counts dead-letter copies the dead-letter stream did not
	// take, by what happened to the event instead: redelivered (tried again on a later
	// delivery), terminated (given up after --max-deliver deliveries; it stays in the
	// stream's history) or acknowledged (its rows are stored; the copy was a record).
	DeadLetterFailures *prometheus.CounterVec // outcome
}

// New creates the metrics on a registry of their own, with the Go runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_http_requests_total",
			Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"}),
		RequestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "telemetryd_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		BytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_ingest_bytes_total",
			Help: "Bytes of accepted ingest requests, after decompression."}, []string{"signal"}),
		ItemsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_ingest_items_accepted_total",
			Help: "Spans, data points and log records stored in the stream."}, []string{"signal"}),
		ItemsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_ingest_items_rejected_total",
			Help: "Items dropped as invalid (partial success)."}, []string{"signal"}),
		ItemsPersisted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_persist_rows_total",
			Help: "Rows written to ClickHouse by table."}, []string{"table"}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "telemetryd_persist_batch_events",
			Help: "Events per persist batch (below saturation, the batches a process's partitions pulled together are one).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		InsertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "telemetryd_persist_insert_duration_seconds",
			Help: "ClickHouse INSERT latency by table, decoding the rows as they are sent included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"table"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "telemetryd_persist_consumer_lag_events",
			Help: "Events of a partition not yet persisted (pending + unacknowledged)."}, []string{"partition"}),
		DeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "telemetryd_persist_dead_letters_total",
			Help: "Events sent to the dead-letter stream."}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_rate_limited_total",
			Help: "Requests refused by a credential's rate limit."}, []string{"surface"}),
		GRPCRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_grpc_requests_total",
			Help: "OTLP/gRPC export calls by signal and status code."}, []string{"signal", "code"}),
		GRPCRequestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "telemetryd_grpc_request_duration_seconds",
			Help: "OTLP/gRPC export latency by signal.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"signal"}),
	}
	for _, c := range []prometheus.Collector{m.Requests, m.RequestSeconds, m.BytesIn, m.ItemsAccepted, m.ItemsRejected,
		m.ItemsPersisted, m.BatchEvents, m.InsertSeconds, m.ConsumerLag, m.DeadLetters, m.RateLimited,
		m.GRPCRequests, m.GRPCRequestSeconds} {
		f(c)
	}
	m.DeadLetterFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetryd_persist_dead_letter_failures_total",
		Help: "Dead-letter copies that could not be published, by what happened to the event instead."}, []string{"outcome"})
	f(m.DeadLetterFailures)
	return m
}

// GaugeFunc registers a gauge read from fn at scrape time.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
