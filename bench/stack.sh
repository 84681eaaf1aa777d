# Sourced by the bench-* scripts after lib.sh and keys.sh, once $WORK/directory.json is written:
# starts bayzat-sim at Bayzat's real pace (one request a second per key, 20 records a request),
# config-service (loaded with the directory), import-service and SYNC_REPLICAS sync-service
# replicas from $RELEASE, each logging into $WORK, and waits until every company's queue has its
# consumers. Sets SIM, IMPORT, TOKEN (an operator's) and SYNC_PIDS.
#
#   SYNC_REPLICAS (1)       sync-service replicas
#   CONFIG_RATE_LIMIT       config-service's REST limit per caller (loading hundreds of companies)
"${PSQL[@]}" -c "CREATE DATABASE $DB"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
export AMQP_NAMESPACE
export CONFIG_SERVICE_INTERNAL_BIND=127.0.0.1:$(free_port)
export BRIDGE_MASTER_KEYS=bench:$(head -c 32 /dev/urandom | base64)
export RUST_LOG=${RUST_LOG:-warn}
SYNC_REPLICAS=${SYNC_REPLICAS:-1}
companies=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["companies"]))' "$WORK/directory.json")
SIM_PORT=$(free_port); CONFIG_PORT=$(free_port); IMPORT_PORT=$(free_port)
SIM=http://127.0.0.1:$SIM_PORT
IMPORT=http://127.0.0.1:$IMPORT_PORT
export BAYZAT_ALLOWED_API_URLS=$SIM
$RELEASE/bayzat-sim --bind 127.0.0.1:$SIM_PORT --load "$WORK/directory.json" --interval-ms 1000 --max-records 20 \
  >"$WORK/sim.log" 2>&1 & PIDS+=($!)
CONFIG_SERVICE_BIND=127.0.0.1:$CONFIG_PORT env ${CONFIG_RATE_LIMIT:+API_RATE_LIMIT_PER_SECOND=$CONFIG_RATE_LIMIT} \
  $RELEASE/config-service >"$WORK/config.log" 2>&1 & PIDS+=($!)
wait_ready "http://127.0.0.1:$CONFIG_PORT/readyz"
echo "$BENCH: loading $companies companies" >&2
BRIDGE_PORTAL_SIGNING_KEY=$(cat "$PORTAL_KEY_FILE") $RELEASE/config-service load-directory "$WORK/directory.json" \
  --url "http://127.0.0.1:$CONFIG_PORT" --api-url "$SIM/attendance" >/dev/null
export CONFIG_SERVICE_URL=http://127.0.0.1:$CONFIG_PORT
IMPORT_SERVICE_BIND=127.0.0.1:$IMPORT_PORT IMPORT_STORAGE_DIR=$WORK/files BRIDGE_SIGNING_KEY=$(signing_key import-service) \
  $RELEASE/import-service >"$WORK/import.log" 2>&1 & PIDS+=($!)
SYNC_PIDS=()
for r in $(seq 1 "$SYNC_REPLICAS"); do
  port=$(free_port)
  # Bayzat's documented limit: one request a second per key (plus the default 25 ms margin).
  HOSTNAME=sync$r SYNC_SERVICE_BIND=127.0.0.1:$port BAYZAT_RATE_LIMIT_DELAY=1 BRIDGE_SIGNING_KEY=$(signing_key sync-service) \
    CONFIG_SERVICE_INTERNAL_URL=http://$CONFIG_SERVICE_INTERNAL_BIND $RELEASE/sync-service \
    >"$WORK/sync-$r.log" 2>&1 & PIDS+=($!); SYNC_PIDS+=($!)
  wait_ready "http://127.0.0.1:$port/readyz"
done
wait_ready "$SIM/__admin/stats"
wait_ready "$IMPORT/readyz"
# Every company's queue has its consumers before the clock starts.
for _ in $(seq 1 240); do
  consumed=$(rabbitmqctl -q list_queues name consumers 2>/dev/null \
    | awk -v ns="$AMQP_NAMESPACE" -v n="$SYNC_REPLICAS" 'index($1, ns "sync.company.") == 1 && $2 >= n' | wc -l)
  [ "$consumed" -ge "$companies" ] && break; sleep 0.5
done
echo "$BENCH: $consumed company queues consumed by $SYNC_REPLICAS sync-service replica(s)" >&2
TOKEN=$($RELEASE/config-service mint-token --key-file "$PORTAL_KEY_FILE" --sub bench --role operator --ttl 3600)
