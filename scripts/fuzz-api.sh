#!/usr/bin/env bash
# make fuzz-api: property-based tests of the three REST APIs against their own OpenAPI documents.
#
# Installs schemathesis and the OpenAPI tools (PyPI) into a virtualenv, starts the services and
# bayzat-sim on their own ports, database and broker namespace (emptied first), loads the fixture
# directory, uploads basic.csv, then runs schemathesis against each service's /openapi.json once
# per token: an admin, a viewer and an operator limited to one company. It reports answers that
# are 5xx, that do not match the documented schema or content type, and statuses the document
# does not list. (`/internal/...` is left out: config-service serves it on its internal listener,
# to service tokens.) Prints one `fuzz-api:` line per service and token, then a `fuzz-api: total`
# line. Last, it generates Python clients from the documents (openapi-python-client) and calls
# each service through them (an `api-client:` line). Exits non-zero when anything failed.
#
# FUZZ_EXAMPLES (default 10) test cases per operation and phase, FUZZ_SEED for a repeatable run,
# FUZZ_VENV for where the virtualenv goes, FUZZ_KEEP=1 leaves the services running.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${FUZZ_VENV:-${TMPDIR:-/tmp}/attendance-bridge-fuzz-venv}
EXAMPLES=${FUZZ_EXAMPLES:-10}
SEED=${FUZZ_SEED:-$RANDOM}

if [ ! -x "$VENV/bin/schemathesis" ] || [ ! -x "$VENV/bin/openapi-python-client" ]; then
  echo "fuzz-api: installing schemathesis, openapi-spec-validator and openapi-python-client into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4.0,<5' 'openapi-spec-validator>=0.7' 'openapi-python-client>=0.24'
fi

echo "fuzz-api: building"
cargo build -q -p config-service -p import-service -p sync-service -p bayzat-sim -p console --bins

export RUN_DIR=${RUN_DIR:-.run/fuzz}
export BRIDGE_DATABASE=${BRIDGE_DATABASE:-attendance_bridge_fuzz}
export AMQP_NAMESPACE=${AMQP_NAMESPACE:-fuzz.}
export CONFIG_SERVICE_BIND=${CONFIG_SERVICE_BIND:-127.0.0.1:18081}
export IMPORT_SERVICE_BIND=${IMPORT_SERVICE_BIND:-127.0.0.1:18082}
export SYNC_SERVICE_BIND=${SYNC_SERVICE_BIND:-127.0.0.1:18083}
export CONSOLE_BIND=${CONSOLE_BIND:-127.0.0.1:18080}
export SIM_BIND=${SIM_BIND:-127.0.0.1:18090}
export CONFIG_SERVICE_INTERNAL_BIND=${CONFIG_SERVICE_INTERNAL_BIND:-127.0.0.1:18091}
REPORTS=$RUN_DIR/reports
export IMPORT_STORAGE_DIR=${IMPORT_STORAGE_DIR:-$RUN_DIR/imports}
# The per-token API rate limit would answer most generated requests 429: lift it for the run.
export API_RATE_LIMIT_PER_SECOND=${API_RATE_LIMIT_PER_SECOND:-10000}
. scripts/stack.sh

stop_all
psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DATABASE"
rm -rf "$IMPORT_STORAGE_DIR" "$REPORTS"
mkdir -p "$REPORTS"
if command -v rabbitmqctl >/dev/null; then
  for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^$AMQP_NAMESPACE" || true); do
    rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
  done
fi
[ "${FUZZ_KEEP:-0}" = 1 ] || trap stop_all EXIT
start_all
BRIDGE_PORTAL_SIGNING_KEY="$(signing_key portal)" \
  "$BIN/config-service" load-directory "$FIXTURES/directory.json" --url "$CONFIG_SERVICE_URL" \
  --api-url "http://$SIM_BIND/attendance" >/dev/null

mint() { # sub role [companies]: a person's token, as the IT portal signs it (`make token`)
  "$BIN/config-service" mint-token --key-file "$KEYS_DIR/portal.key" --sub "$1" --role "$2" \
    --ttl 3600 ${3:+--companies "$3"}
}
ADMIN=$(mint fuzz-admin admin)
# Some data to find: the fixture report, uploaded as the admin.
curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN" -F "file=@$FIXTURES/basic.csv" \
  "$IMPORT_SERVICE_URL/v1/imports"

declare -A URLS=(
  [config-service]=$CONFIG_SERVICE_URL
  [import-service]=$IMPORT_SERVICE_URL
  [sync-service]=$SYNC_SERVICE_URL
)
declare -A EXCLUDE=([config-service]='^/internal/')
declare -A TOKENS=(
  [admin]=$ADMIN
  [viewer]=$(mint fuzz-viewer viewer)
  [operator]=$(mint fuzz-operator operator advline)
)

for service in config-service import-service sync-service; do
  curl -fsS "${URLS[$service]}/openapi.json" >"$REPORTS/$service.json"
  if ! "$VENV/bin/openapi-spec-validator" "$REPORTS/$service.json" >"$REPORTS/$service.validation" 2>&1; then
    echo "fuzz-api: $service: the document is not valid OpenAPI: $(head -c 300 "$REPORTS/$service.validation")" >&2
    exit 1
  fi
done
echo "fuzz-api: the three documents are valid OpenAPI"

status=0
for service in config-service import-service sync-service; do
  for who in admin viewer operator; do
    report="$REPORTS/$service-$who.ndjson"
    "$VENV/bin/schemathesis" run "${URLS[$service]}/openapi.json" \
      --url "${URLS[$service]}" \
      -H "Authorization: Bearer ${TOKENS[$who]}" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --seed "$SEED" \
      --workers 1 --request-timeout 20 --no-color \
      --report ndjson --report-ndjson-path "$report" \
      ${EXCLUDE[$service]:+--exclude-path-regex "${EXCLUDE[$service]}"} \
      >"$REPORTS/$service-$who.log" 2>&1 || status=1
    "$VENV/bin/python" scripts/fuzz_summary.py "$service" "$who" "$report" || status=1
  done
done
"$VENV/bin/python" scripts/fuzz_summary.py --total "$REPORTS"/*.ndjson || true
"$VENV/bin/python" scripts/api_client_check.py --docs "$REPORTS" --out "$REPORTS/clients" \
  --token "$ADMIN" --report "$FIXTURES/basic.csv" --config "$CONFIG_SERVICE_URL" \
  --imports "$IMPORT_SERVICE_URL" --sync "$SYNC_SERVICE_URL" || status=1
echo "fuzz-api: details in $REPORTS/<service>-<token>.log (seed $SEED)"
exit $status
