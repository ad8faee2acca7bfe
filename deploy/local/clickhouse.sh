#!/usr/bin/env bash
# Installs, starts and stops a private ClickHouse server for local runs and tests.
#
#   clickhouse.sh install                      install Debian's clickhouse-server if missing
#   clickhouse.sh start DIR [TCP_PORT] [HTTP_PORT]   start a server with its data under DIR
#   clickhouse.sh stop DIR                     stop the server started with DIR
#
# The server never uses the system-wide /etc/clickhouse-server or /var/lib/clickhouse,
# so it coexists with any other ClickHouse on the machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_clickhouse() {
  if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then
    return 0
  fi
  echo "clickhouse.sh: installing Debian's clickhouse-server" >&2
  need_root apt-get update -qq
  # policy-rc.d on containers refuses to start the system service; we start our own.
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

start_clickhouse() {
  local dir=${1:?usage: clickhouse.sh start DIR [TCP_PORT] [HTTP_PORT]}
  local tcp=${2:-9000} http=${3:-8123}
  mkdir -p "$dir"/{data,tmp,log,format_schemas}
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/clickhouse.pid" ] && kill -0 "$(cat "$dir/clickhouse.pid")" 2>/dev/null; then
    echo "clickhouse.sh: already running (pid $(cat "$dir/clickhouse.pid"), tcp $(cat "$dir/tcp_port"))" >&2
    return 0
  fi
  sed -e "s#@DIR@#$dir#g" -e "s#@TCP_PORT@#$tcp#g" -e "s#@HTTP_PORT@#$http#g" \
    "$here/clickhouse-config.xml.tmpl" >"$dir/config.xml"
  cp "$here/users.xml" "$dir/users.xml"
  echo "$tcp" >"$dir/tcp_port"
  # The subshell only sets the working directory; $! is clickhouse-server itself.
  (
    cd "$dir"
    nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$dir/clickhouse.pid"
  )
  local pid; pid=$(cat "$dir/clickhouse.pid")
  for _ in $(seq 1 120); do
    if clickhouse-client --host 127.0.0.1 --port "$tcp" --query "SELECT 1" >/dev/null 2>&1; then
      echo "clickhouse.sh: ClickHouse $(clickhouse-client --host 127.0.0.1 --port "$tcp" --query 'SELECT version()') ready on 127.0.0.1:$tcp (pid $pid, data $dir)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clickhouse.sh: clickhouse-server exited; last log lines:" >&2
      tail -n 30 "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
  echo "clickhouse.sh: ClickHouse did not answer on port $tcp within 60s" >&2
  return 1
}

stop_clickhouse() {
  local dir=${1:?usage: clickhouse.sh stop DIR}
  [ -f "$dir/clickhouse.pid" ] || return 0
  local pid; pid=$(cat "$dir/clickhouse.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/clickhouse.pid"
}

# free_port prints a TCP port nobody listens on (for tests that need their own server).
free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
  install) install_clickhouse ;;
  start) shift; start_clickhouse "$@" ;;
  stop) shift; stop_clickhouse "$@" ;;
  free-port) free_port ;;
  *) echo "usage: clickhouse.sh install|start DIR [TCP_PORT] [HTTP_PORT]|stop DIR|free-port" >&2; exit 2 ;;
esac
