# Sourced by run.sh and demo.sh: starts the three services, the console and bayzat-sim against the local
# Postgres and RabbitMQ, and stops them. Set RUN_DIR, BRIDGE_DATABASE and AMQP_NAMESPACE first to
# keep one setup's data apart from another's.

RUN_DIR=${RUN_DIR:-.run}
# The binaries cargo built, wherever CARGO_TARGET_DIR puts them.
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug}
DATABASE=${BRIDGE_DATABASE:-attendance_bridge}
FIXTURES=${FIXTURES:-tests/fixtures}
mkdir -p "$RUN_DIR"

# Development secrets, made once and kept in $RUN_DIR/dev.env (never committed).
if [ ! -f "$RUN_DIR/dev.env" ]; then
  echo "BRIDGE_MASTER_KEYS=dev:$(head -c 32 /dev/urandom | base64)" >"$RUN_DIR/dev.env"
fi
# import-service's own keys (BioTime passwords), added to a dev.env made before they existed.
grep -q '^IMPORT_MASTER_KEYS=' "$RUN_DIR/dev.env" \
  || echo "IMPORT_MASTER_KEYS=dev-import:$(head -c 32 /dev/urandom | base64)" >>"$RUN_DIR/dev.env"
set -a; . "$RUN_DIR/dev.env"; set +a
# Tokens are signed with keys now; an old dev.env's shared secret would stop the services.
unset BRIDGE_JWT_SECRET

# Development signing keys (Ed25519), made once in $RUN_DIR/keys/ (never committed): the IT
# portal's (people's tokens: `make token`, the sign-in page) and the console's, sync-service's and
# import-service's own. Each process gets only its own private key; all get the public keys.
KEYS_DIR=$RUN_DIR/keys
new_key() { # name kid signer
  openssl genpkey -algorithm ed25519 -out "$KEYS_DIR/$1.pem" 2>/dev/null
  echo "$2:$(openssl pkey -in "$KEYS_DIR/$1.pem" -outform DER | openssl base64 -A)" >"$KEYS_DIR/$1.key"
  echo "$2:$3:$(openssl pkey -in "$KEYS_DIR/$1.pem" -pubout -outform DER | tail -c 32 | openssl base64 -A)" \
    >"$KEYS_DIR/$1.trusted"
}
if [ ! -f "$KEYS_DIR/portal.key" ]; then
  mkdir -p "$KEYS_DIR"
  chmod 700 "$KEYS_DIR"
  (
    umask 077
    new_key portal dev-portal-1 portal
    new_key console dev-console-1 console
    new_key sync-service dev-sync-1 sync-service
    new_key import-service dev-import-1 import-service
  )
fi
BRIDGE_TRUSTED_KEYS=$(cat "$KEYS_DIR"/*.trusted | paste -sd, -)
export BRIDGE_TRUSTED_KEYS
# The private key of `$1` (portal, console, sync-service, import-service) as kid:base64.
signing_key() { cat "$KEYS_DIR/$1.key"; }

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$DATABASE}
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
export AMQP_NAMESPACE=${AMQP_NAMESPACE:-}
export CONFIG_SERVICE_BIND=${CONFIG_SERVICE_BIND:-127.0.0.1:8081}
export CONFIG_SERVICE_INTERNAL_BIND=${CONFIG_SERVICE_INTERNAL_BIND:-127.0.0.1:8091}
export IMPORT_SERVICE_BIND=${IMPORT_SERVICE_BIND:-127.0.0.1:8082}
export SYNC_SERVICE_BIND=${SYNC_SERVICE_BIND:-127.0.0.1:8083}
export CONSOLE_BIND=${CONSOLE_BIND:-127.0.0.1:8080}
# The sign-in page below is opened from a file: its origin is `null`. Local trials only.
export CONSOLE_PORTAL_ORIGIN=${CONSOLE_PORTAL_ORIGIN:-null}
export CONFIG_SERVICE_URL=${CONFIG_SERVICE_URL:-http://$CONFIG_SERVICE_BIND}
export CONFIG_SERVICE_INTERNAL_URL=${CONFIG_SERVICE_INTERNAL_URL:-http://$CONFIG_SERVICE_INTERNAL_BIND}
export IMPORT_SERVICE_URL=${IMPORT_SERVICE_URL:-http://$IMPORT_SERVICE_BIND}
export SYNC_SERVICE_URL=${SYNC_SERVICE_URL:-http://$SYNC_SERVICE_BIND}
export IMPORT_STORAGE_DIR=${IMPORT_STORAGE_DIR:-$RUN_DIR/imports}
SIM_BIND=${SIM_BIND:-127.0.0.1:8090}
# Stored Bayzat keys are only ever sent under these prefixes: the local simulator and Bayzat.
export BAYZAT_ALLOWED_API_URLS=${BAYZAT_ALLOWED_API_URLS:-http://$SIM_BIND,https://integration.bayzat.com/attendance}

psql_admin() { psql -h 127.0.0.1 -U postgres -qAt "$@"; }

ensure_database() {
  psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1 \
    || psql_admin -c "CREATE DATABASE $DATABASE"
}

# Every process of a previous start from this RUN_DIR (and `make down`).
stop_all() {
  for pid_file in "$RUN_DIR"/*.pid; do
    [ -f "$pid_file" ] || continue
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
}

start() { # name command...
  local name=$1; shift
  "$@" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
}

wait_ready() { # name url
  for _ in $(seq 1 120); do
    if curl -fsS "$2" >/dev/null 2>&1; then echo "  $1 ready at ${2%/*}"; return 0; fi
    sleep 0.5
  done
  echo "  $1 did not become ready; see $RUN_DIR/$1.log" >&2
  stop_all
  exit 1
}

start_all() {
  stop_all
  local sim_args=(--bind "$SIM_BIND")
  [ -f "$FIXTURES/directory.json" ] && sim_args+=(--load "$FIXTURES/directory.json")
  start bayzat-sim "$BIN/bayzat-sim" "${sim_args[@]}"
  start config-service "$BIN/config-service"
  start import-service env BRIDGE_SIGNING_KEY="$(signing_key import-service)" "$BIN/import-service"
  start sync-service env BRIDGE_SIGNING_KEY="$(signing_key sync-service)" "$BIN/sync-service"
  start console env BRIDGE_SIGNING_KEY="$(signing_key console)" "$BIN/console"
  echo "starting (logs in $RUN_DIR/):"
  wait_ready bayzat-sim "http://$SIM_BIND/__admin/stats"
  wait_ready config-service "http://$CONFIG_SERVICE_BIND/readyz"
  wait_ready import-service "http://$IMPORT_SERVICE_BIND/readyz"
  wait_ready sync-service "http://$SYNC_SERVICE_BIND/readyz"
  wait_ready console "http://$CONSOLE_BIND/readyz"
}

# A page that signs `$1` (role `$2`) in at the console when opened within a minute, the way the
# IT portal does.
console_sign_in_page() { # sub role
  local page="$RUN_DIR/sign-in.html"
  BRIDGE_PORTAL_SIGNING_KEY="$(signing_key portal)" \
    "$BIN/console" sign-in-page --sub "$1" --role "$2" --url "http://$CONSOLE_BIND" >"$page"
  echo "$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
}
