#!/usr/bin/env bash
# Runs `telemetryd bench` end to end against telemetryd builds of several commits,
# interleaved (A, B, A, B, …) so that a noisy shared machine spreads over every side alike.
#
#   deploy/bench/pipeline.sh CH_ADDR REV[,REV…] [ROUNDS] [-- BENCH_FLAGS…]
#
#   CH_ADDR   host:port of a running ClickHouse (native protocol); each run gets a fresh database
#   REV       a git revision (built from `git archive` in a temporary directory), or "." for the working tree
#   ROUNDS    how many times each revision runs (default 2)
#   BENCH_FLAGS  passed to `telemetryd bench` (default: --duration 20s --conns 8)
#
# Environment: SERVE_FLAGS adds flags to `telemetryd serve` (e.g. "--persist-concurrency 1"),
# OUT (default /tmp/telemetryd-bench) keeps the builds, logs, one JSON report per run and the
# server's /metrics at the end of each run.
# The bench binary is always the working tree's, so every side is measured by the same harness.
# Prints one JSON object per run on stdout, prefixed by "REV ROUND".
set -euo pipefail

[ $# -ge 2 ] || { sed -n 2,16p "$0" >&2; exit 2; }
ch=$1; revs=$2; rounds=${3:-2}
shift 2; [ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
bench_flags=("$@")
[ ${#bench_flags[@]} -gt 0 ] || bench_flags=(--duration 20s --conns 8)

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/telemetryd-bench}
mkdir -p "$out"

build() { # build REV -> prints binary path
  local rev=$1 name src
  if [ "$rev" = "." ]; then
    name=worktree; (cd "$repo" && go build -o "$out/telemetryd-$name" ./cmd/telemetryd)
  else
    name=$(cd "$repo" && git rev-parse --short "$rev")
    if [ ! -x "$out/telemetryd-$name" ]; then
      src=$(mktemp -d)
      (cd "$repo" && git archive "$rev" | tar -x -C "$src")
      (cd "$src" && go build -o "$out/telemetryd-$name" ./cmd/telemetryd)
      rm -rf "$src"
    fi
  fi
  echo "$out/telemetryd-$name"
}

free_port() { "$repo/deploy/local/clickhouse-current.sh" free-port; }

harness=${HARNESS:-$(build .)}
IFS=, read -r -a rev_list <<<"$revs"
declare -A bins
for r in "${rev_list[@]}"; do bins[$r]=$(build "$r"); done

secret=$(head -c 32 /dev/urandom | base64)
export TELEMETRYD_JWT_SECRET=$secret
for round in $(seq 1 "$rounds"); do
  for r in "${rev_list[@]}"; do
    bin=${bins[$r]}
    tag=$(basename "$bin" | sed 's/telemetryd-//')
    db=bench_${tag}_${round}_$(date +%s)
    db=${db//[^a-zA-Z0-9_]/_}
    data=$(mktemp -d)
    hp=$(free_port); gp=$(free_port); np=$(free_port)
    # shellcheck disable=SC2086
    "$bin" serve --data-dir "$data" --http-addr "127.0.0.1:$hp" --grpc-addr "127.0.0.1:$gp" \
      --nats-listen "127.0.0.1:$np" --rate-limit 0 \
      --clickhouse-dsn "clickhouse://$ch/$db" ${SERVE_FLAGS:-} >"$out/serve-$tag-$round.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
      curl -fsS "http://127.0.0.1:$hp/ready" >/dev/null 2>&1 && break
      kill -0 "$pid" 2>/dev/null || { echo "serve $tag exited; see $out/serve-$tag-$round.log" >&2; exit 1; }
      sleep 0.1
    done
    report=$out/report-$tag-$round.json
    "$harness" bench --target "http://127.0.0.1:$hp" --auth-url "http://127.0.0.1:$hp" \
      --clickhouse-dsn "clickhouse://$ch/$db" --nats-url "nats://127.0.0.1:$np" --data-dir "$data" \
      --pid "$pid" --json "${bench_flags[@]}" >"$report" 2>"$out/bench-$tag-$round.log" || true
    echo "$r $round $(cat "$report")"
    curl -fsS "http://127.0.0.1:$hp/metrics" >"$out/metrics-$tag-$round.txt" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
    clickhouse-client --host "${ch%:*}" --port "${ch##*:}" -q "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
done
