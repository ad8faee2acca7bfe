package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Report is the outcome of a run. "Spans" stands for the items of the signal sent (log
// records, data points) so the keys stay the same for every signal. A nil figure could
// not be measured; Notes say why.
type Report struct {
	RunID           string  `json:"run_id"`
	Signal          Signal  `json:"signal"`
	Transport       string  `json:"transport"`
	Conns           int     `json:"conns"`
	SpansPerRequest int     `json:"spans_per_request"`
	Requests        int64   `json:"requests"`
	SpansSent       int64   `json:"spans_sent"` // acknowledged items
	Retries429      int64   `json:"retries_429"`
	Retries503      int64   `json:"retries_503"`
	Errors          int64   `json:"errors"`
	DurationSec     float64 `json:"duration_sec"`

	IngestSpansPerSec    float64  `json:"ingest_spans_per_sec"`
	PersistedSpansPerSec *float64 `json:"persisted_spans_per_sec"`
	AckP50Ms             *float64 `json:"ack_p50_ms"`
	AckP99Ms             *float64 `json:"ack_p99_ms"`
	FreshnessP50Ms       *float64 `json:"freshness_p50_ms"`
	FreshnessP99Ms       *float64 `json:"freshness_p99_ms"`
	FreshnessSamples     int      `json:"freshness_samples"`

	PIDs                   []int    `json:"telemetryd_pids"`
	CPUSecondsPerMillion   *float64 `json:"telemetryd_cpu_seconds_per_million_spans"`
	CPUCoresUsed           *float64 `json:"telemetryd_cpu_cores"` // CPU seconds per second of the run
	RSSMaxBytes            *int64   `json:"rss_max_bytes"`
	RawJetStreamMsgsPerSec *float64 `json:"raw_jetstream_msgs_per_sec"`
	RawJetStreamSpansPerS  *float64 `json:"raw_jetstream_spans_per_sec"`
	RawClickHouseRowsPerS  *float64 `json:"raw_clickhouse_rows_per_sec"`
	RatioIngestJetStream   *float64 `json:"ratio_ingest_to_raw_jetstream"`
	RatioPersistClickHouse *float64 `json:"ratio_persisted_to_raw_clickhouse"`

	Notes []string `json:"notes"`
}

// ReportKeys are the JSON keys every report has, measured or null.
var ReportKeys = []string{
	"run_id", "signal", "transport", "conns", "spans_per_request", "requests", "spans_sent",
	"retries_429", "retries_503", "errors", "duration_sec", "ingest_spans_per_sec",
	"persisted_spans_per_sec", "ack_p50_ms", "ack_p99_ms", "freshness_p50_ms", "freshness_p99_ms",
	"freshness_samples", "telemetryd_pids", "telemetryd_cpu_seconds_per_million_spans",
	"telemetryd_cpu_cores", "rss_max_bytes", "raw_jetstream_msgs_per_sec", "raw_jetstream_spans_per_sec",
	"raw_clickhouse_rows_per_sec", "ratio_ingest_to_raw_jetstream", "ratio_persisted_to_raw_clickhouse", "notes",
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Notes == nil {
		r.Notes = []string{}
	}
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nrun %s: %s over %s, %d conns, %d %s per request\n", r.RunID, r.Signal, r.Transport, r.Conns, r.SpansPerRequest, r.Signal.itemName())
	fmt.Fprintf(w, "  sent (acknowledged)    %d %s in %d requests over %.1fs (retries: %d after 429, %d after 503; errors: %d)\n",
		r.SpansSent, r.Signal.itemName(), r.Requests, r.DurationSec, r.Retries429, r.Retries503, r.Errors)
	fmt.Fprintf(w, "  ingest                 %.0f/s\n", r.IngestSpansPerSec)
	fmt.Fprintf(w, "  persisted              %s/s\n", num(r.PersistedSpansPerSec, 0))
	fmt.Fprintf(w, "  ack latency            p50 %s ms, p99 %s ms\n", num(r.AckP50Ms, 1), num(r.AckP99Ms, 1))
	fmt.Fprintf(w, "  freshness (ack->query) p50 %s ms, p99 %s ms (%d samples)\n", num(r.FreshnessP50Ms, 0), num(r.FreshnessP99Ms, 0), r.FreshnessSamples)
	fmt.Fprintf(w, "  telemetryd %v        CPU %s s per million, %s cores; RSS max %s MiB\n", r.PIDs,
		num(r.CPUSecondsPerMillion, 2), num(r.CPUCoresUsed, 2), mib(r.RSSMaxBytes))
	fmt.Fprintf(w, "  raw JetStream          %s msgs/s = %s %s/s (ingest is %s of it)\n",
		num(r.RawJetStreamMsgsPerSec, 0), num(r.RawJetStreamSpansPerS, 0), r.Signal.itemName(), pct(r.RatioIngestJetStream))
	fmt.Fprintf(w, "  raw ClickHouse         %s rows/s (persist is %s of it)\n", num(r.RawClickHouseRowsPerS, 0), pct(r.RatioPersistClickHouse))
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
}

func (s Signal) itemName() string {
	switch s {
	case Logs:
		return "log records"
	case Metrics:
		return "data points"
	}
	return "spans"
}

func num(f *float64, decimals int) string {
	if f == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", decimals, *f)
}

func pct(f *float64) string {
	if f == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", *f*100)
}

func mib(b *int64) string {
	if b == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(*b)/(1<<20))
}

func ptr[T any](v T) *T { return &v }

// ratio is a/b, or nil when either is unknown or b is zero.
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	return ptr(*a / *b)
}

// quantileMs is the q-quantile (nearest rank) of ds in milliseconds, nil for none.
func quantileMs(ds []time.Duration, q float64) *float64 {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return ptr(float64(s[i]) / float64(time.Millisecond))
}
