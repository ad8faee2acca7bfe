#!/usr/bin/env bash
# Runs the test suite against real servers, on two ClickHouse releases:
#   current  ClickHouse 26.7 (clickhouse-current.sh: the chDB package, installed once
#            into a cache): the WHOLE suite runs on it;
#   legacy   Debian's 18.16 (clickhouse.sh, installed if missing): a second run of the
#            tests that touch what differs between releases: migrations, persistence of
#            every signal, replay, retention, the fetch API and the ClickHouse outage.
# The --clickhouse-cluster tests run in the first pass but on Debian's 18.16 cluster
# (clickhouse-cluster.sh: three more clickhouse-server processes and Debian's zookeeper):
# chDB has no Keeper. Every server runs on free ports with its own data directory and is
# stopped afterwards. NATS is embedded in the tests. Each test logs the version of the
# ClickHouse it ran on (go test -v shows it, a failure always does).
# The web UI's test (TestWebUIInChromium) drives Debian's headless chromium; its
# screenshots land in $TELEMETRYD_TEST_ARTIFACTS/screenshots (default .test/screenshots).
#
# Extra arguments go to `go test` and run on both servers, e.g.
#   ./deploy/local/test.sh -run TestEndToEnd ./cmd/...
# TELEMETRYD_TEST_SERVERS=current (or legacy) runs on that server only. Servers already
# running are used instead of new ones when their host:port is in
# TELEMETRYD_TEST_CLICKHOUSE_CURRENT, TELEMETRYD_TEST_CLICKHOUSE_LEGACY and
# TELEMETRYD_TEST_CLICKHOUSE_CLUSTER.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

servers=${TELEMETRYD_TEST_SERVERS:-current,legacy}
case "$servers" in
  current | legacy | current,legacy | legacy,current) ;;
  *) echo "test.sh: TELEMETRYD_TEST_SERVERS=$servers: want current, legacy or current,legacy" >&2; exit 2 ;;
esac

# What the legacy pass runs when no arguments are given: every test of these packages
# but the cluster ones (the first pass ran those)...
legacy_packages=(./schema/ ./pipeline/persist/)
# ...and these of ./cmd/telemetryd/.
legacy_cmd_tests='^(TestPersistSurvivesKill9|TestEndToEnd.*|TestCombinedEndpointTakesEverySignal|TestOTLPJSONFromTheJSExporter|TestFetchSignals|TestFetchQueriesAreBounded|TestSearch.*|TestTraceByID|TestMCPToolsAndSessions|TestLiveTail|TestMigrateCommand|TestReplayCLI.*|TestClickHouseOutageLosesNothing)$'

# Servers already running (host:port in these variables) are used as they are;
# the others are started here and stopped at exit.
"$here/clickhouse.sh" install # also brings clickhouse-client, for the versions
legacy_dir='' current_dir='' cluster_dir=''
# The web UI's test (TestWebUIInChromium) drives Debian's headless chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
cleanup() {
  local rc=$?
  if [ -n "$legacy_dir" ]; then "$here/clickhouse.sh" stop "$legacy_dir"; rm -rf "$legacy_dir"; fi
  if [ -n "$current_dir" ]; then
    # A failed run keeps the current server's last words: the data directory goes next.
    if [ "$rc" -ne 0 ] && [ -d "$current_dir/log" ]; then
      echo "test.sh: what ClickHouse 26.7 logged as fatal ($current_dir):" >&2
      grep -a -h -E '<(Fatal|Critical)>|Segmentation|terminate|shutting down' "$current_dir"/log/* | tail -n 80 >&2 || true
      # Its errors are mostly the tests' own refused queries: the tail of every log too.
      for f in "$current_dir"/log/*; do
        [ -f "$f" ] || continue
        echo "test.sh: the tail of $f ($(wc -c <"$f") bytes):" >&2
        tail -n 60 "$f" >&2 || true
      done
    fi
    "$here/clickhouse-current.sh" stop "$current_dir"; rm -rf "$current_dir" "$current_dir.died"
  fi
  if [ -n "$cluster_dir" ]; then "$here/clickhouse-cluster.sh" stop "$cluster_dir"; rm -rf "$cluster_dir"; fi
}
trap cleanup EXIT
newdir() { mktemp -d "${TMPDIR:-/tmp}/telemetryd-test-clickhouse$1.XXXXXX"; }

want() { case ",$servers," in *,$1,*) return 0 ;; *) return 1 ;; esac; }
# Both servers always run: some tests compare their answers (TestFetchAnswersTheSameOnBothLayouts).
if [ -z "${TELEMETRYD_TEST_CLICKHOUSE_LEGACY:-}" ]; then
  legacy_dir=$(newdir "")
  tcp=$("$here/clickhouse.sh" free-port)
  "$here/clickhouse.sh" start "$legacy_dir" "$tcp" "$("$here/clickhouse.sh" free-port)"
  TELEMETRYD_TEST_CLICKHOUSE_LEGACY=127.0.0.1:$tcp
fi
if [ -z "${TELEMETRYD_TEST_CLICKHOUSE_CURRENT:-}" ]; then
  "$here/clickhouse-current.sh" install
  current_dir=$(newdir "-current")
  tcp=$("$here/clickhouse-current.sh" free-port)
  "$here/clickhouse-current.sh" start "$current_dir" "$tcp" "$("$here/clickhouse-current.sh" free-port)" >/dev/null
  TELEMETRYD_TEST_CLICKHOUSE_CURRENT=127.0.0.1:$tcp
fi
if [ -z "${TELEMETRYD_TEST_CLICKHOUSE_CLUSTER:-}" ]; then
  "$here/clickhouse-cluster.sh" install
  cluster_dir=$(newdir "-cluster")
  TELEMETRYD_TEST_CLICKHOUSE_CLUSTER=$("$here/clickhouse-cluster.sh" start "$cluster_dir")
fi
# nats-server from the Go module go.mod pins, for the test that runs a NATS cluster as
# separate processes (cmd/telemetryd/e2e_coldstart_test.go); go caches the build.
if [ -z "${TELEMETRYD_TEST_NATS_SERVER:-}" ]; then
  TELEMETRYD_TEST_NATS_SERVER=${XDG_CACHE_HOME:-$HOME/.cache}/telemetryd/bin/nats-server
  go build -o "$TELEMETRYD_TEST_NATS_SERVER" github.com/nats-io/nats-server/v2
fi
export TELEMETRYD_TEST_NATS_SERVER
# Both servers, for tests that compare them; TELEMETRYD_TEST_CLICKHOUSE is set per pass.
export TELEMETRYD_TEST_CLICKHOUSE_LEGACY=${TELEMETRYD_TEST_CLICKHOUSE_LEGACY:-}
export TELEMETRYD_TEST_CLICKHOUSE_CURRENT=${TELEMETRYD_TEST_CLICKHOUSE_CURRENT:-}
export TELEMETRYD_TEST_CLICKHOUSE_CLUSTER

version_of() {
  clickhouse-client --host "${1%:*}" --port "${1##*:}" --query 'SELECT version()'
}
legacy_version=$(version_of "$TELEMETRYD_TEST_CLICKHOUSE_LEGACY")
current_version=$(version_of "$TELEMETRYD_TEST_CLICKHOUSE_CURRENT")

failed=()
# gotest ADDR OUT GO_TEST_ARGS...: go test with ADDR as the test server, its output also in OUT.
gotest() {
  local addr=$1 out=$2
  shift 2
  # -race on every package: most of them start goroutines (watches, consumers, servers).
  # -pgo=off: go test would build cmd/telemetryd's tests (a main package) and all they
  # import once more with its default.pgo, minutes of CPU for speed the tests do not need.
  TELEMETRYD_TEST_CLICKHOUSE=$addr go test -race -pgo=off -tags faultinject -count=1 -timeout 15m "$@" 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}

# current_died: the 26.7 server this script started is no longer running.
current_died() {
  [ -n "$current_dir" ] && ! kill -0 "$(cat "$current_dir/clickhouse.pid")" 2>/dev/null
}

# restart_current starts a fresh 26.7 server on the same ports, after printing what the dead
# one logged as fatal; its directory is kept next to the new one until exit.
restart_current() {
  echo "=== test.sh: ClickHouse 26.7 (chDB) died during the run; what it logged as fatal:" >&2
  grep -a -h -E '<(Fatal|Critical)>|Segmentation|terminate|shutting down' "$current_dir"/log/* | tail -n 80 >&2 || true
  tail -n 30 "$current_dir/log/clickhouse.log" >&2 || true
  local tcp http
  tcp=$(cat "$current_dir/tcp_port") http=$(cat "$current_dir/http_port")
  "$here/clickhouse-current.sh" stop "$current_dir" || true
  rm -rf "$current_dir.died"
  mv "$current_dir" "$current_dir.died"
  "$here/clickhouse-current.sh" start "$current_dir" "$tcp" "$http" >/dev/null
}

# restart_cluster replaces the 18.16 cluster this script started with a fresh one (new
# ZooKeeper, empty DDL queue) before a retry: a run that failed may have left an ON CLUSTER
# task unfinished on a host (seen under load, "1 unfinished hosts"), and the DDL queue runs in
# order, so every later ON CLUSTER statement would wait behind it until it times out.
restart_cluster() {
  [ -n "$cluster_dir" ] || return 0
  cluster_log
  "$here/clickhouse-cluster.sh" stop "$cluster_dir" || true
  rm -rf "$cluster_dir"
  cluster_dir=$(newdir "-cluster")
  TELEMETRYD_TEST_CLICKHOUSE_CLUSTER=$("$here/clickhouse-cluster.sh" start "$cluster_dir")
  export TELEMETRYD_TEST_CLICKHOUSE_CLUSTER
}

# cluster_log prints what the 18.16 cluster's nodes last logged about distributed DDL,
# ZooKeeper and replicated ALTERs (they log at debug level, see clickhouse-cluster.sh).
cluster_log() {
  local n
  for n in "$cluster_dir"/node*; do
    [ -f "$n/log/clickhouse-server.log" ] || continue
    echo "test.sh: the 18.16 cluster's $(basename "$n") on distributed DDL, ZooKeeper and ALTERs (last lines):" >&2
    grep -a -E 'DDLWorker|ZooKeeper|Session|AlterThread|Waiting for|<Error>' "$n/log/clickhouse-server.log" |
      grep -v -E 'Waiting a watch|Processing tasks|There is no a local address' | tail -n 25 | cut -c1-300 >&2 || true
  done
}

# failed_tests OUT: the top-level tests go test reported as failed in OUT.
failed_tests() { sed -n -E 's/^--- FAIL: (Test[^ ]+) .*/\1/p' "$1" | sort -u; }

# only_cluster_failed OUT: tests failed in OUT, and every one of them is a test of the 18.16
# cluster (its name says Cluster).
only_cluster_failed() {
  local names; names=$(failed_tests "$1")
  [ -n "$names" ] && ! grep -v -q Cluster <<<"$names"
}

# on NAME VERSION ADDR GO_TEST_ARGS...: one go test run with ADDR as the test server.
# chDB's clickhouse-local has died in full runs, which fails every test after it (which
# test does it is not yet known; it aborts when a native client is killed in the middle of
# an INSERT, see the SIGKILL test below, and when a connection ends in the middle of its
# handshake). When the 26.7 server died, it is restarted (and the 18.16 cluster with it,
# see restart_cluster) and the packages that failed run once more; the pass fails if they
# fail again. Its fatal log lines are printed either way. Likewise when the only tests that
# failed are the 18.16 cluster's: 18.16 has left an ON CLUSTER task unfinished under load
# (the DDL queue then blocks every later one), so the cluster is replaced, what its nodes
# logged is printed, and those tests run once more.
on() {
  local name=$1 version=$2 addr=$3
  shift 3
  echo "=== test.sh: go test on ClickHouse $version ($name) at $addr: $*"
  local out; out=$(mktemp)
  if gotest "$addr" "$out" "$@"; then
    echo "=== test.sh: passed on ClickHouse $version ($name): $*"
  elif current_died || only_cluster_failed "$out"; then
    local args=() pkgs=() a p what
    for a in "$@"; do case "$a" in ./*) ;; *) args+=("$a") ;; esac; done
    if current_died; then
      restart_current
      what="ClickHouse 26.7 and the 18.16 cluster restarted; running the failed packages again"
    else
      # Only the 18.16 cluster's tests failed: they run again, alone, on a fresh cluster.
      args+=(-run "^($(failed_tests "$out" | paste -s -d '|'))\$")
      what="only tests of the 18.16 cluster failed; it restarted; running them again"
    fi
    restart_cluster
    for p in $(awk '$1 == "FAIL" && $2 ~ /^github.com\/telemetryd\/telemetryd/ {print $2}' "$out" | sort -u); do
      p=${p#github.com/telemetryd/telemetryd}
      pkgs+=(".$p/")
    done
    echo "=== test.sh: $what on ClickHouse $version ($name): ${args[*]} ${pkgs[*]}"
    if [ "${#pkgs[@]}" -gt 0 ] && gotest "$addr" "$out" "${args[@]}" "${pkgs[@]}"; then
      echo "=== test.sh: passed on ClickHouse $version ($name) after the restart: $*"
    else
      echo "=== test.sh: FAILED on ClickHouse $version ($name) after the restart: $*"
      failed+=("$name: $*")
    fi
  else
    echo "=== test.sh: FAILED on ClickHouse $version ($name): $*"
    failed+=("$name: $*")
  fi
  rm -f "$out"
}

current=$TELEMETRYD_TEST_CLICKHOUSE_CURRENT legacy=$TELEMETRYD_TEST_CLICKHOUSE_LEGACY
if [ "$#" -gt 0 ]; then
  if want current; then on current "$current_version" "$current" "$@"; fi
  if want legacy; then on legacy "$legacy_version" "$legacy" "$@"; fi
else
  # chDB's clickhouse-local aborts (SIGABRT, no message) when a native client is killed
  # in the middle of an INSERT, which is what the SIGKILL fault test does; a real
  # clickhouse-server does not. That test runs in the legacy pass instead.
  if want current; then on current "$current_version" "$current" -skip '^TestPersistSurvivesKill9$' ./...; fi
  if want legacy; then
    on legacy "$legacy_version" "$legacy" -skip Cluster "${legacy_packages[@]}"
    on legacy "$legacy_version" "$legacy" -run "$legacy_cmd_tests" -skip Cluster ./cmd/telemetryd/
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "=== test.sh: failed runs:" >&2
  printf '    %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "=== test.sh: all runs passed"
