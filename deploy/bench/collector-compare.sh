#!/usr/bin/env bash
# collector-compare.sh: the ingest role of telemetryd against the OpenTelemetry Collector
# (otlp receiver -> batch processor -> debug exporter, v0.120.0) on the same load, in the
# same session (issue 14).
#
# Usage (from the repository root or anywhere inside it):
#   deploy/bench/collector-compare.sh [--duration 15s] [--rounds 2] [--conns 8]
#       [--signal traces|logs|metrics] [--spans-per-request 100] [--grpc] [--gzip] [--out DIR]
#
# What it does:
#   1. Builds the Collector once with the Collector builder (ocb) v0.120.0 from
#      deploy/bench/otelcol-builder.yaml into ${OTELCOL_CACHE:-~/.cache/telemetryd/otelcol-0.120.0}
#      (rebuilt only when the manifest changes; modules come through the Go module proxy).
#   2. Builds telemetryd and starts the Collector on free loopback ports. Before each of its
#      rounds it starts `telemetryd serve --roles ingest --rate-limit 0` afresh (embedded
#      NATS, an empty temporary data dir, no ClickHouse needed) and creates an ingest token
#      with `telemetryd tokens create`: an ingest-only process has no persist workers to keep
#      its stream short, so each round starts from the same empty stream.
#   3. Runs `telemetryd bench --ingest-only` alternately against both (telemetryd, collector,
#      telemetryd, collector, ...: --rounds rounds, the same duration, connections, signal and
#      transport), measuring the CPU and RSS of the process under test (--pid), and prints a
#      table and the telemetryd/collector ratio per round. The Collector stays up for the
#      whole session and is idle while telemetryd is measured. RSS is the peak so far
#      (VmHWM): telemetryd's is its round's, the Collector's that of the session.
#   The JSON reports and both servers' logs are kept in --out (default: a new temporary
#   directory, printed).
#
# Needs: go, curl, awk. Building the Collector takes a few CPU minutes the first time.
set -euo pipefail

duration=15s rounds=2 conns=8 signal=traces spans=100 grpc="" gzip="" out=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--signal) signal=$2; shift 2 ;;
	--spans-per-request) spans=$2; shift 2 ;;
	--grpc) grpc=--grpc; shift ;;
	--gzip) gzip=--gzip; shift ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
manifest=$here/otelcol-builder.yaml
otel_version=0.120.0
cache=${OTELCOL_CACHE:-$HOME/.cache/telemetryd/otelcol-$otel_version}
otelcol=$cache/build/otelcol-bench

work=$(mktemp -d -t collector-compare.XXXXXX)
out=${out:-$(mktemp -d -t collector-compare-reports.XXXXXX)}
mkdir -p "$out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	cp "$work"/*.log "$out"/ 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

log() { echo "== $*" >&2; }

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# wait_listening waits until something accepts connections on 127.0.0.1:$1.
wait_listening() {
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1 after 30s" >&2
	return 1
}

# 1. The Collector, built once per manifest.
stamp=$(sha256sum "$manifest" | cut -d' ' -f1)
if [[ ! -x $otelcol || "$(cat "$cache/manifest.sha256" 2>/dev/null)" != "$stamp" ]]; then
	log "building the OpenTelemetry Collector $otel_version into $cache (once; a few CPU minutes)"
	mkdir -p "$cache"
	GOBIN=$cache/bin nice -n 10 go install "go.opentelemetry.io/collector/cmd/builder@v$otel_version"
	(cd "$cache" && nice -n 10 "$cache/bin/builder" --config "$manifest" >"$cache/build.log" 2>&1) || {
		tail -20 "$cache/build.log" >&2
		exit 1
	}
	echo "$stamp" >"$cache/manifest.sha256"
fi

# 2. telemetryd, ingest role only, started afresh for each of its rounds (start_telemetryd):
#    with no persist workers nothing trims its stream, and the gigabytes an earlier round
#    stored would cost the later rounds page-cache writeback that a deployment, whose
#    persist workers keep the stream short, does not pay.
log "building telemetryd"
(cd "$repo" && go build -o "$work/telemetryd" ./cmd/telemetryd)
td_http=$(free_port) td_grpc=$(free_port) td_nats=$(free_port)
td_pid="" token=""
start_telemetryd() {
	if [[ -n $td_pid ]]; then
		kill "$td_pid" 2>/dev/null || true
		wait "$td_pid" 2>/dev/null || true
	fi
	rm -rf "$work/data"
	"$work/telemetryd" serve --roles ingest --rate-limit 0 --data-dir "$work/data" --log-level warn \
		--http-addr "127.0.0.1:$td_http" --grpc-addr "127.0.0.1:$td_grpc" --nats-listen "127.0.0.1:$td_nats" \
		>>"$work/telemetryd.log" 2>&1 &
	td_pid=$!
	pids+=("$td_pid")
	for _ in $(seq 300); do
		curl -fsS "http://127.0.0.1:$td_http/ready" >/dev/null 2>&1 && break
		kill -0 "$td_pid" 2>/dev/null || { cat "$work/telemetryd.log" >&2; exit 1; }
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$td_http/ready" >/dev/null
	token=$("$work/telemetryd" tokens create --tenant bench --name collector-compare \
		--nats-url "nats://127.0.0.1:$td_nats" --data-dir "$work/data" |
		sed -n 's/^ *"token": *"\([^"]*\)".*/\1/p')
	[[ -n $token ]] || { echo "creating an ingest token failed" >&2; exit 1; }
}

# The Collector: otlp -> batch -> debug, logging a sample of batches, not every item.
oc_http=$(free_port) oc_grpc=$(free_port)
cat >"$work/otelcol.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$oc_grpc
      http:
        endpoint: 127.0.0.1:$oc_http
processors:
  batch:
exporters:
  debug:
    verbosity: basic
    sampling_initial: 1
    sampling_thereafter: 1000
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}
    logs: {receivers: [otlp], processors: [batch], exporters: [debug]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [debug]}
EOF
"$otelcol" --config "$work/otelcol.yaml" >"$work/otelcol.log" 2>&1 &
oc_pid=$!
pids+=("$oc_pid")
wait_listening "$oc_http" || { cat "$work/otelcol.log" >&2; exit 1; }
wait_listening "$oc_grpc"

# 3. The same load, interleaved.
target() { # $1: telemetryd|collector
	local h g
	if [[ $1 == telemetryd ]]; then h=$td_http g=$td_grpc; else h=$oc_http g=$oc_grpc; fi
	if [[ -n $grpc ]]; then echo "127.0.0.1:$g"; else echo "http://127.0.0.1:$h"; fi
}
for round in $(seq "$rounds"); do
	for who in telemetryd collector; do
		if [[ $who == telemetryd ]]; then
			start_telemetryd
			pid=$td_pid tok=(--token "$token")
		else
			pid=$oc_pid tok=()
		fi
		log "round $round: $who ($signal, $duration, $conns conns)"
		env -u TELEMETRYD_TOKEN -u TELEMETRYD_JWT_SECRET -u TELEMETRYD_NATS_URL "$work/telemetryd" bench --ingest-only --json --target "$(target "$who")" "${tok[@]}" \
			--pid "$pid" --duration "$duration" --conns "$conns" --signal "$signal" \
			--spans-per-request "$spans" $grpc $gzip >"$out/round$round-$who.json"
	done
done

# field FILE KEY prints a top-level number of a one-line JSON report ("null" if unmeasured).
field() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\|null\)[,}].*/\1/p" "$1"; }

echo
echo "telemetryd --roles ingest vs OpenTelemetry Collector $otel_version (otlp -> batch -> debug)"
transport=http
[[ -z $grpc ]] || transport=grpc
echo "$signal over $transport${gzip:++gzip}, $conns conns, $spans per request, $duration per run; reports in $out"
printf '%-6s %-11s %12s %9s %9s %10s %6s %8s %7s\n' round target "spans/s" "p50 ms" "p99 ms" "CPU s/M" cores "RSS MiB" errors
for round in $(seq "$rounds"); do
	for who in telemetryd collector; do
		f=$out/round$round-$who.json
		awk -v r="$round" -v w="$who" -v s="$(field "$f" ingest_spans_per_sec)" -v p50="$(field "$f" ack_p50_ms)" \
			-v p99="$(field "$f" ack_p99_ms)" -v cpu="$(field "$f" telemetryd_cpu_seconds_per_million_spans)" \
			-v cores="$(field "$f" telemetryd_cpu_cores)" -v rss="$(field "$f" rss_max_bytes)" -v e="$(field "$f" errors)" 'BEGIN {
				printf "%-6s %-11s %12.0f %9.1f %9.1f %10.2f %6.2f %8.0f %7d\n", r, w, s, p50, p99, cpu, cores, rss / 1048576, e }'
	done
done
for round in $(seq "$rounds"); do
	awk -v r="$round" -v a="$(field "$out/round$round-telemetryd.json" ingest_spans_per_sec)" \
		-v b="$(field "$out/round$round-collector.json" ingest_spans_per_sec)" \
		-v ca="$(field "$out/round$round-telemetryd.json" telemetryd_cpu_seconds_per_million_spans)" \
		-v cb="$(field "$out/round$round-collector.json" telemetryd_cpu_seconds_per_million_spans)" 'BEGIN {
			printf "round %s: telemetryd/collector spans/s %.2f, CPU per span %.2f\n", r, (b > 0 ? a / b : 0), (cb > 0 ? ca / cb : 0) }'
done
