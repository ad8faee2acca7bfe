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
    "$here/clickhouse-current.sh" stop "$current_dir"; rm -rf "$current_dir"
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
# on NAME VERSION ADDR GO_TEST_ARGS...: one go test run with ADDR as the test server.
on() {
  local name=$1 version=$2 addr=$3
  shift 3
  echo "=== test.sh: go test on ClickHouse $version ($name) at $addr: $*"
  # -race on every package: most of them start goroutines (watches, consumers, servers).
  if TELEMETRYD_TEST_CLICKHOUSE=$addr go test -race -tags faultinject -count=1 -timeout 15m "$@"; then
    echo "=== test.sh: passed on ClickHouse $version ($name): $*"
  else
    echo "=== test.sh: FAILED on ClickHouse $version ($name): $*"
    failed+=("$name: $*")
  fi
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
