#!/usr/bin/env bash
# Sets up and runs telemetryd on this machine with working defaults:
# a local ClickHouse (Debian's clickhouse-server, installed if missing) with its data
# under ./data/clickhouse, and telemetryd serve with embedded NATS under ./data.
# Prints how to send a span and read it back. Ctrl-C stops both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

data=${TELEMETRYD_DATA_DIR:-$root/data}
ch_port=${CLICKHOUSE_PORT:-9000}
ch_http_port=${CLICKHOUSE_HTTP_PORT:-8123}
http_port=${HTTP_PORT:-4318}
tenant=${TENANT:-dev}
mkdir -p "$data"
chmod 700 "$data"

"$here/clickhouse.sh" install
"$here/clickhouse.sh" start "$data/clickhouse" "$ch_port" "$ch_http_port"

echo "building telemetryd..." >&2
go build -o bin/telemetryd ./cmd/telemetryd

# A development JWT secret, made once and kept (mode 600) with the data.
if [ ! -s "$data/jwt-secret" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '\n' >"$data/jwt-secret")
fi
export TELEMETRYD_JWT_SECRET
TELEMETRYD_JWT_SECRET=$(cat "$data/jwt-secret")
# Minted before anything starts: it also checks TENANT is a valid tenant id.
jwt=$(bin/telemetryd jwt mint --tenant "$tenant" --ttl 720h)

bin/telemetryd serve --data-dir "$data" --http-addr ":$http_port" \
  --clickhouse-dsn "clickhouse://127.0.0.1:$ch_port/telemetry" &
pid=$!
stop_all() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  "$here/clickhouse.sh" stop "$data/clickhouse"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$http_port/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "telemetryd exited; see the log above" >&2; exit 1; }
  sleep 0.5
done

# One ingest token for the development tenant, made once and kept (mode 600).
if [ ! -s "$data/ingest-token" ]; then
  # The CLI authenticates to the embedded NATS with the key telemetryd made in $data/nats.
  (umask 077; bin/telemetryd tokens create --data-dir "$data" --tenant "$tenant" --name dev \
     | sed -n 's/.*"token": "\(.*\)".*/\1/p' >"$data/ingest-token")
fi
token=$(cat "$data/ingest-token")

# An admin user of the development tenant with a random password, made once and kept (mode 600).
admin_email=${ADMIN_EMAIL:-admin@$tenant.local}
if [ ! -s "$data/admin-password" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >"$data/admin-password.new")
  if bin/telemetryd users create --data-dir "$data" --tenant "$tenant" --email "$admin_email" --role admin --name Admin \
       --password-stdin <"$data/admin-password.new" >/dev/null 2>&1; then
    mv "$data/admin-password.new" "$data/admin-password"
  else
    rm -f "$data/admin-password.new"
    echo "could not create $admin_email (it may exist already: telemetryd users reset-password)" >&2
  fi
fi
admin_password=$(cat "$data/admin-password" 2>/dev/null || echo "(unknown)")

cat <<MSG

telemetryd is running: OTLP/HTTP and the API on http://127.0.0.1:$http_port (Ctrl-C stops it)
  web UI:                    http://127.0.0.1:$http_port/ui/ (sign in as the admin below)
  tenant: $tenant
  ingest token (write-only): $token
  dashboard JWT (30 days):   $jwt
  admin user:                $admin_email  password: $admin_password

Sign in as the admin (an access token for 15 minutes and a refresh token):

  curl -sS -X POST http://127.0.0.1:$http_port/auth/login \\
    -d '{"email":"$admin_email","password":"$admin_password"}'

Send a span (OTLP JSON; any OpenTelemetry exporter works too, with
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$http_port and
OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $token"):

  now=\$(date +%s%N); curl -sS http://127.0.0.1:$http_port/v1/traces \\
    -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
    -d '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"demo-mcp-server"}}]},"scopeSpans":[{"scope":{"name":"demo"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"tools/call get_weather","kind":2,"startTimeUnixNano":"'\$now'","endTimeUnixNano":"'\$((now+42000000))'","attributes":[{"key":"mcp.tool.name","value":{"stringValue":"get_weather"}}]}]}]}]}'

Read it back (spans of the last hour, then traces):

  curl -sS "http://127.0.0.1:$http_port/telemetry/fetch_spans?start_time=\$(( \$(date +%s) * 1000 - 3600000 ))&end_time=\$(( \$(date +%s) * 1000 + 60000 ))" \\
    -H 'Authorization: Bearer $jwt'
  curl -sS "http://127.0.0.1:$http_port/telemetry/fetch_traces?start_time=\$(( \$(date +%s) * 1000 - 3600000 ))&end_time=\$(( \$(date +%s) * 1000 + 60000 ))" \\
    -H 'Authorization: Bearer $jwt'

MSG
wait "$pid"
