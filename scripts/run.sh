#!/usr/bin/env bash
# make run: starts registry, metrics and gateway on the defaults of API.md
# with their data in ./data, authentication and mutual TLS on (a local auth
# config in data/dev, made once by `talentctl auth dev-config`), waits until
# the gateway is ready, loads the demo data set, prints where everything is
# and the admin token, and stops all three cleanly on Ctrl-C, exiting 0.
# Logs (JSON lines) go to data/logs/.
#
# Addresses and folders come from the environment (make passes its
# command-line variables on: make run HTTP_ADDR=127.0.0.1:8000):
#   HTTP_ADDR           gateway HTTP API        127.0.0.1:8080
#   REGISTRY_ADDR       registry gRPC           127.0.0.1:9090
#   METRICS_ADDR        metrics gRPC            127.0.0.1:9190
#   GATEWAY_ADMIN_ADDR, REGISTRY_ADMIN_ADDR, METRICS_ADMIN_ADDR
#                       /metrics, /debug/pprof  127.0.0.1:8081, :9091, :9191
#                       (pprof is on here, a local development stack;
#                       the services' default is off: --admin-pprof)
#   DATA_DIR            databases, logs, dev/   data
#   BIN_DIR             the built binaries      bin
set -euo pipefail
cd "$(dirname "$0")/.."

# On a terminal, run in a process group of our own that has the terminal:
# Ctrl-C then reaches this script (which stops the services and exits 0)
# and not make, which would die of it and fail the run whatever we exit
# with. Bash's job control (set -m) does that for the command below.
if [ -t 0 ] && [ -z "${RUN_SH_FOREGROUND:-}" ]; then
  set -m
  RUN_SH_FOREGROUND=1 "$0" "$@" && exit 0 || exit $?
fi

HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:9090}
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:9190}
GATEWAY_ADMIN_ADDR=${GATEWAY_ADMIN_ADDR:-127.0.0.1:8081}
REGISTRY_ADMIN_ADDR=${REGISTRY_ADMIN_ADDR:-127.0.0.1:9091}
METRICS_ADMIN_ADDR=${METRICS_ADMIN_ADDR:-127.0.0.1:9191}
DATA_DIR=${DATA_DIR:-data}
BIN_DIR=${BIN_DIR:-bin}
GATEWAY_URL=https://localhost:${HTTP_ADDR##*:}
DEV=$DATA_DIR/dev
READY_TIMEOUT=${READY_TIMEOUT:-60}
STOP_TIMEOUT=15

for b in registry metrics gateway talentctl; do
  [ -x "$BIN_DIR/$b" ] || { echo "run.sh: $BIN_DIR/$b is missing: run 'make build' first" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "run.sh: curl is needed (apt-get install -y curl)" >&2; exit 1; }
mkdir -p "$DATA_DIR/logs"
if [ ! -f "$DEV/auth.yaml" ]; then
  echo "writing a local auth config (CA, certificates, tokens) to $DEV…"
  "$BIN_DIR/talentctl" auth dev-config --out "$DEV" >/dev/null
fi
export TALENTREG_CA=$DEV/ca.crt TALENTREG_TOKEN_FILE=$DEV/admin.token
CURL=(curl --cacert "$DEV/ca.crt")

declare -A pid=()
order=(gateway metrics registry) # stop order: clients before their servers

# stop_all stops the services, clients before their servers; it fails if
# one of them did not stop cleanly.
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  local name p waited clean=0
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
      clean=1
    fi
  done
  return $clean
}
trap 'stop_all || true' EXIT
# A requested stop is a success when every service stopped cleanly.
trap 'stop_all; exit $?' INT TERM

# Each service runs in a session of its own, so a Ctrl-C on the terminal
# reaches this script alone and stop_all stops them in order with one
# SIGTERM each (the terminal's SIGINT would reach all three at once, and
# stop_all's SIGTERM would then arrive in the middle of their shutdown).
start() { # name args…
  local name=$1
  shift
  setsid "$BIN_DIR/$name" "$@" 2>>"$DATA_DIR/logs/$name.log" >/dev/null &
  pid[$name]=$!
}

# Token-only clients (talentctl, grpcurl) may connect without a client
# certificate (--tls-client-auth optional); metrics and the gateway present
# theirs, and the auth config trusts them as feed-reader and proxy.
serve_tls() { # service
  echo --auth-config "$DEV/auth.yaml" --tls-cert "$DEV/$1.crt" --tls-key "$DEV/$1.key" \
    --tls-client-ca "$DEV/ca.crt" --tls-client-auth optional
}
start registry --grpc-addr "$REGISTRY_ADDR" --db "$DATA_DIR/registry.db" --admin-addr "$REGISTRY_ADMIN_ADDR" --admin-pprof $(serve_tls registry)
start metrics --grpc-addr "$METRICS_ADDR" --registry "$REGISTRY_ADDR" --db "$DATA_DIR/metrics.db" --admin-addr "$METRICS_ADMIN_ADDR" --admin-pprof \
  $(serve_tls metrics) --registry-ca "$DEV/ca.crt" --client-cert "$DEV/metrics.crt" --client-key "$DEV/metrics.key"
start gateway --http-addr "$HTTP_ADDR" --registry "$REGISTRY_ADDR" --metrics "$METRICS_ADDR" --admin-addr "$GATEWAY_ADMIN_ADDR" --admin-pprof \
  --tls-cert "$DEV/gateway.crt" --tls-key "$DEV/gateway.key" --registry-ca "$DEV/ca.crt" --metrics-ca "$DEV/ca.crt" \
  --client-cert "$DEV/gateway.crt" --client-key "$DEV/gateway.key"

# Wait for /readyz (both backends SERVING), failing fast if a process died.
deadline=$((SECONDS + READY_TIMEOUT))
until "${CURL[@]}" -fsS -o /dev/null "$GATEWAY_URL/readyz" 2>/dev/null; do
  for name in registry metrics gateway; do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "run.sh: $name exited during start-up; last lines of $DATA_DIR/logs/$name.log:" >&2
      tail -n 5 "$DATA_DIR/logs/$name.log" >&2 || true
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
# data changes nothing. talentctl prints the Summary once metrics has
# applied the import.
echo "loading the Binhai demo data set…"
"$BIN_DIR/talentctl" demo --registry "$REGISTRY_ADDR" --metrics "$METRICS_ADDR" ||
  echo "run.sh: 'talentctl demo' failed; the stack keeps running" >&2

cat <<EOF

talentreg is running (data in $DATA_DIR, logs in $DATA_DIR/logs), with
authentication and TLS on; credentials in $DEV (admin token: $(cat "$DEV/admin.token")):
  HTTP API      $GATEWAY_URL/v1/…         (OpenAPI 2.0: $GATEWAY_URL/openapi.json)
  dashboard     $GATEWAY_URL/dashboard/   (sign in with $DEV/viewer.token; browsers do not know the dev CA: trust $DEV/ca.crt or accept the warning)
  readiness     $GATEWAY_URL/readyz
  registry      gRPC $REGISTRY_ADDR   admin https://$REGISTRY_ADMIN_ADDR/metrics
  metrics       gRPC $METRICS_ADDR   admin https://$METRICS_ADMIN_ADDR/metrics
  gateway admin https://$GATEWAY_ADMIN_ADDR/metrics, /debug/pprof/

Try (in another shell, from this folder):
  export TOKEN=\$(cat $DEV/admin.token) TALENTREG_CA=$DEV/ca.crt TALENTREG_TOKEN_FILE=$DEV/admin.token
  curl -s --cacert $DEV/ca.crt -H "Authorization: Bearer \$TOKEN" '$GATEWAY_URL/v1/summary'
  $BIN_DIR/talentctl summary

Press Ctrl-C to stop all three.
EOF

# Run until Ctrl-C, or until one of the three exits on its own.
set +e
wait -n "${pid[registry]}" "${pid[metrics]}" "${pid[gateway]}"
status=$?
for name in registry metrics gateway; do
  if ! kill -0 "${pid[$name]}" 2>/dev/null; then
    echo "run.sh: $name exited (status $status); see $DATA_DIR/logs/$name.log" >&2
    unset "pid[$name]"
  fi
done
exit 1
