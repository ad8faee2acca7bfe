#!/usr/bin/env bash
# Installs, starts and stops a current ClickHouse (26.7) for tests and development.
#
#   clickhouse-current.sh install                  install the chDB package and build the launcher, once
#   clickhouse-current.sh start DIR TCP_PORT HTTP_PORT   start a server with its data under DIR;
#                                                  prints its version on stdout when it answers
#   clickhouse-current.sh stop DIR                 stop the server started with DIR
#   clickhouse-current.sh free-port                print a free loopback TCP port
#
# The server is ClickHouse built as clickhouse-local inside libchdb.so, shipped by the
# npm package below (~178 MB packed, ~570 MB installed; cached under
# ${XDG_CACHE_HOME:-~/.cache}/telemetryd/chdb-VERSION, or $TELEMETRYD_CHDB_CACHE; npm and
# gcc are installed with apt-get if missing). chdb-launch.c loads it and runs its command
# line with a query that starts the native and HTTP listeners and then runs for ~30
# years; the server lives until it is killed. No users or passwords, no Keeper: the
# --clickhouse-cluster tests stay on Debian's 18.16 cluster (clickhouse-cluster.sh).
set -euo pipefail

# The one place the current server's version is pinned.
CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
CHDB_VERSION=26.7.3-stable.1

here=$(cd "$(dirname "$0")" && pwd)
cache=${TELEMETRYD_CHDB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/telemetryd/chdb-$CHDB_VERSION}
lib=$cache/node_modules/$CHDB_PACKAGE/libchdb.so
launcher=$cache/chdb-launch

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_tools() {
  local missing=()
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "clickhouse-current.sh: installing ${missing[*]}" >&2
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_current() {
  mkdir -p "$cache"
  if [ ! -f "$lib" ]; then
    install_tools
    echo "clickhouse-current.sh: installing $CHDB_PACKAGE@$CHDB_VERSION into $cache" >&2
    # Into a fresh directory first, so an interrupted download never looks installed.
    local tmp; tmp=$(mktemp -d "$cache.XXXXXX")
    npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "$CHDB_PACKAGE@$CHDB_VERSION" >&2
    rm -rf "$cache/node_modules"
    mv "$tmp/node_modules" "$cache/node_modules"
    rm -rf "$tmp"
  fi
  if [ ! -x "$launcher" ] || [ "$here/chdb-launch.c" -nt "$launcher" ]; then
    install_tools
    gcc -O2 -Wall -o "$launcher.tmp.$$" "$here/chdb-launch.c" -ldl
    mv "$launcher.tmp.$$" "$launcher"
  fi
}

# version_at prints the server's version, or fails while it does not answer.
version_at() {
  curl -sf --max-time 5 "http://127.0.0.1:$1/?query=SELECT%20version()"
}

start_current() {
  local dir=${1:?usage: clickhouse-current.sh start DIR TCP_PORT HTTP_PORT}
  local tcp=${2:?usage: clickhouse-current.sh start DIR TCP_PORT HTTP_PORT}
  local http=${3:?usage: clickhouse-current.sh start DIR TCP_PORT HTTP_PORT}
  install_current
  mkdir -p "$dir/data" "$dir/log"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/clickhouse.pid" ] && kill -0 "$(cat "$dir/clickhouse.pid")" 2>/dev/null; then
    echo "clickhouse-current.sh: already running (pid $(cat "$dir/clickhouse.pid"), tcp $(cat "$dir/tcp_port"))" >&2
    version_at "$(cat "$dir/http_port")"
    return 0
  fi
  echo "$tcp" >"$dir/tcp_port"
  echo "$http" >"$dir/http_port"
  # Merges run at nice 10, below INSERTs, queries and telemetryd on the same cores: at
  # the same priority a merge running through an INSERT made it take 0.5-1 s, and those
  # INSERTs were the freshness tail (docs/benchmarks.md, seventeenth round). Merges
  # still use every idle cycle. ClickHouse sets it only with CAP_SYS_NICE (root has
  # it); without, it is a no-op.
  cat >"$dir/config.xml" <<'XML'
<clickhouse>
    <os_threads_nice_value_merge_mutate>10</os_threads_nice_value_merge_mutate>
</clickhouse>
XML
  # setsid: the server gets a process group of its own, so stop ends it with all it started.
  # Warnings and errors go to log/clickhouse.log (clickhouse-local logs nothing without
  # --logger.log; --logger.level is ignored there, --log-level is not), so that a crash
  # leaves its reason behind. The listeners live as long as the last query runs;
  # sleepEachRow(1) per row of a billion rows keeps it running for decades.
  (
    cd "$dir"
    nohup setsid "$launcher" "$lib" clickhouse --config-file="$dir/config.xml" \
      --path="$dir/data" --log-level=warning --logger.log="$dir/log/clickhouse.log" --listen_host=127.0.0.1 --tcp_port="$tcp" --http_port="$http" \
      --multiquery --query "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; SELECT sleepEachRow(1) FROM numbers(1000000000) SETTINGS max_block_size=1 FORMAT Null" \
      >"$dir/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/clickhouse.pid"
  )
  local pid; pid=$(cat "$dir/clickhouse.pid")
  local version
  for _ in $(seq 1 240); do
    # The native listener starts before the HTTP one, so an HTTP answer means both serve.
    if version=$(version_at "$http" 2>/dev/null); then
      echo "clickhouse-current.sh: ClickHouse $version ready on 127.0.0.1:$tcp (http $http, pid $pid, data $dir)" >&2
      echo "$version"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clickhouse-current.sh: the server exited; last log lines:" >&2
      tail -n 30 "$dir/log/stdout.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  echo "clickhouse-current.sh: ClickHouse did not answer on port $http within 120s" >&2
  return 1
}

stop_current() {
  local dir=${1:?usage: clickhouse-current.sh stop DIR}
  [ -f "$dir/clickhouse.pid" ] || return 0
  local pid; pid=$(cat "$dir/clickhouse.pid")
  # The server leads its own process group (setsid), so -pid is the server and its children.
  if kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/clickhouse.pid"
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
  install) install_current ;;
  start) shift; start_current "$@" ;;
  stop) shift; stop_current "$@" ;;
  free-port) free_port ;;
  *) echo "usage: clickhouse-current.sh install|start DIR TCP_PORT HTTP_PORT|stop DIR|free-port" >&2; exit 2 ;;
esac
