#!/usr/bin/env bash
# make run: starts registry, metrics and gateway on the defaults of API.md
# with their data in ./data, authentication and mutual TLS on (a local auth
# config in data/dev, made once by `talentctl auth dev-config`), waits until
# the gateway is ready, loads the demo data set, prints where everything is
# and the admin token, and stops all three cleanly on Ctrl-C. Logs (JSON
# lines) go to data/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

GATEWAY_URL=https://localhost:8080
DEV=data/dev
READY_TIMEOUT=${READY_TIMEOUT:-60}
STOP_TIMEOUT=15

for b in registry metrics gateway talentctl; do
  [ -x "bin/$b" ] || { echo "run.sh: bin/$b is missing: run 'make build' first" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "run.sh: curl is needed (apt-get install -y curl)" >&2; exit 1; }
mkdir -p data/logs
if [ ! -f "$DEV/auth.yaml" ]; then
  echo "writing a local auth config (CA, certificates, tokens) to $DEV…"
  bin/talentctl auth dev-config --out "$DEV" >/dev/null
fi
export TALENTREG_CA=$DEV/ca.crt TALENTREG_TOKEN_FILE=$DEV/admin.token
CURL=(curl --cacert "$DEV/ca.crt")

declare -A pid=()
order=(gateway metrics registry) # stop order: clients before their servers

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  local name p waited
  for name in "${order[@]}"; do
    p=${pid[$name]:-}
    [ -n "$p" ] || continue
    kill -TERM "$p" 2>/dev/null || true
    waited=0
    while kill -0 "$p" 2>/dev/null && [ "$waited" -lt $((STOP_TIMEOUT * 10)) ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$p" 2>/dev/null; then
      echo "  $name (pid $p) did not stop within ${STOP_TIMEOUT}s: killing it" >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
    if wait "$p" 2>/dev/null; then
      echo "  $name stopped"
    else
      echo "  $name exited with status $?" >&2
    fi
  done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name args…
  local name=$1
  shift
  "bin/$name" "$@" 2>>"data/logs/$name.log" >/dev/null &
  pid[$name]=$!
}

# Token-only clients (talentctl, grpcurl) may connect without a client
# certificate (--tls-client-auth optional); metrics and the gateway present
# theirs, and the auth config trusts them as feed-reader and proxy.
serve_tls() { # service
  echo --auth-config "$DEV/auth.yaml" --tls-cert "$DEV/$1.crt" --tls-key "$DEV/$1.key" \
    --tls-client-ca "$DEV/ca.crt" --tls-client-auth optional
}
start registry --grpc-addr 127.0.0.1:9090 --db data/registry.db --admin-addr 127.0.0.1:9091 $(serve_tls registry)
start metrics --grpc-addr 127.0.0.1:9190 --registry 127.0.0.1:9090 --db data/metrics.db --admin-addr 127.0.0.1:9191 \
  $(serve_tls metrics) --registry-ca "$DEV/ca.crt" --client-cert "$DEV/metrics.crt" --client-key "$DEV/metrics.key"
start gateway --http-addr 127.0.0.1:8080 --registry 127.0.0.1:9090 --metrics 127.0.0.1:9190 --admin-addr 127.0.0.1:8081 \
  --tls-cert "$DEV/gateway.crt" --tls-key "$DEV/gateway.key" --registry-ca "$DEV/ca.crt" --metrics-ca "$DEV/ca.crt" \
  --client-cert "$DEV/gateway.crt" --client-key "$DEV/gateway.key"

# Wait for /readyz (both backends SERVING), failing fast if a process died.
deadline=$((SECONDS + READY_TIMEOUT))
until "${CURL[@]}" -fsS -o /dev/null "$GATEWAY_URL/readyz" 2>/dev/null; do
  for name in registry metrics gateway; do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "run.sh: $name exited during start-up; last lines of data/logs/$name.log:" >&2
      tail -n 5 "data/logs/$name.log" >&2 || true
      exit 1
    fi
  done
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run.sh: the gateway was not ready within ${READY_TIMEOUT}s:" >&2
    "${CURL[@]}" -sS "$GATEWAY_URL/readyz" >&2 || true
    exit 1
  fi
  sleep 0.2
done

# The Binhai demo data set: idempotent, so a second `make run` on the same
# ./data changes nothing. talentctl prints the Summary once metrics has
# applied the import.
echo "loading the Binhai demo data set…"
bin/talentctl demo --registry 127.0.0.1:9090 --metrics 127.0.0.1:9190 ||
  echo "run.sh: 'talentctl demo' failed; the stack keeps running" >&2

cat <<EOF

talentreg is running (data in ./data, logs in ./data/logs), with authentication
and TLS on; credentials in $DEV (admin token: $(cat "$DEV/admin.token")):
  HTTP API      $GATEWAY_URL/v1/…         (OpenAPI: $GATEWAY_URL/openapi.json)
  readiness     $GATEWAY_URL/readyz
  registry      gRPC 127.0.0.1:9090   admin https://localhost:9091/metrics
  metrics       gRPC 127.0.0.1:9190   admin https://localhost:9191/metrics
  gateway admin https://localhost:8081/metrics, /debug/pprof/

Try (in another shell, from this folder):
  export TOKEN=\$(cat $DEV/admin.token) TALENTREG_CA=$DEV/ca.crt TALENTREG_TOKEN_FILE=$DEV/admin.token
  curl -s --cacert $DEV/ca.crt -H "Authorization: Bearer \$TOKEN" '$GATEWAY_URL/v1/summary'
  bin/talentctl summary

Press Ctrl-C to stop all three.
EOF

# Run until Ctrl-C, or until one of the three exits on its own.
set +e
wait -n "${pid[registry]}" "${pid[metrics]}" "${pid[gateway]}"
status=$?
for name in registry metrics gateway; do
  if ! kill -0 "${pid[$name]}" 2>/dev/null; then
    echo "run.sh: $name exited (status $status); see data/logs/$name.log" >&2
    unset "pid[$name]"
  fi
done
exit 1
