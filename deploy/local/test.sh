#!/usr/bin/env bash
# Runs the whole test suite against real servers: a private ClickHouse (Debian's
# clickhouse-server, installed if missing) on free ports with its own data directory,
# and a private ClickHouse cluster (three more clickhouse-server processes and Debian's
# zookeeper, see clickhouse-cluster.sh) for the --clickhouse-cluster tests; all stopped
# afterwards. NATS is embedded in the tests. The UI test's screenshots land in
# $TELEMETRYD_TEST_ARTIFACTS/screenshots (default .test/screenshots).
#
# Extra arguments go to `go test`, e.g. ./deploy/local/test.sh -run TestEndToEnd ./cmd/...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

"$here/clickhouse.sh" install
"$here/clickhouse-cluster.sh" install
# The web UI's test (TestWebUIInChromium) drives Debian's headless chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/telemetryd-test-clickhouse.XXXXXX")
cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/telemetryd-test-clickhouse-cluster.XXXXXX")
cleanup() {
  "$here/clickhouse.sh" stop "$dir"
  "$here/clickhouse-cluster.sh" stop "$cluster_dir"
  rm -rf "$dir" "$cluster_dir"
}
trap cleanup EXIT
tcp=$("$here/clickhouse.sh" free-port)
http=$("$here/clickhouse.sh" free-port)
"$here/clickhouse.sh" start "$dir" "$tcp" "$http"
export TELEMETRYD_TEST_CLICKHOUSE="127.0.0.1:$tcp"
TELEMETRYD_TEST_CLICKHOUSE_CLUSTER=$("$here/clickhouse-cluster.sh" start "$cluster_dir")
export TELEMETRYD_TEST_CLICKHOUSE_CLUSTER

if [ "$#" -eq 0 ]; then set -- ./...; fi
# -race on every package: most of them start goroutines (watches, consumers, servers).
go test -race -count=1 -timeout 15m "$@"
