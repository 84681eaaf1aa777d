#!/usr/bin/env bash
# make bench-sync: five companies with 1,200 punches each through an import and sync-service to
# bayzat-sim at Bayzat's real pace (one request a second per key, 20 records a request), against
# the original job's sequential baseline (company after company, 20 at a time, 1 s after each
# response) run on a second, fresh simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-sync
. bench/lib.sh

echo "bench-sync: building release binaries" >&2
cargo build --release -q -p bayzat-sim -p config-service -p import-service -p sync-service
punches=$(python3 bench/generate_sync.py "$WORK")
"${PSQL[@]}" -c "CREATE DATABASE $DB"

export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
export AMQP_NAMESPACE
. bench/keys.sh
export CONFIG_SERVICE_INTERNAL_BIND=127.0.0.1:$(free_port)
export BRIDGE_MASTER_KEYS=bench:$(head -c 32 /dev/urandom | base64)
export RUST_LOG=warn
SIM_PORT=$(free_port); BASELINE_SIM_PORT=$(free_port); CONFIG_PORT=$(free_port); IMPORT_PORT=$(free_port); SYNC_PORT=$(free_port)
SIM=http://127.0.0.1:$SIM_PORT
BASELINE_SIM=http://127.0.0.1:$BASELINE_SIM_PORT
export BAYZAT_ALLOWED_API_URLS=$SIM,$BASELINE_SIM
for p in $SIM_PORT $BASELINE_SIM_PORT; do # the second starts fresh for the baseline
  $RELEASE/bayzat-sim --bind 127.0.0.1:$p --load "$WORK/directory.json" --interval-ms 1000 --max-records 20 \
    >"$WORK/sim-$p.log" 2>&1 & PIDS+=($!)
done
CONFIG_SERVICE_BIND=127.0.0.1:$CONFIG_PORT $RELEASE/config-service >"$WORK/config.log" 2>&1 & PIDS+=($!)
wait_ready "http://127.0.0.1:$CONFIG_PORT/readyz"
BRIDGE_PORTAL_SIGNING_KEY=$(cat "$PORTAL_KEY_FILE") $RELEASE/config-service load-directory "$WORK/directory.json" --url "http://127.0.0.1:$CONFIG_PORT" \
  --api-url "$SIM/attendance" >/dev/null
export CONFIG_SERVICE_URL=http://127.0.0.1:$CONFIG_PORT
IMPORT_SERVICE_BIND=127.0.0.1:$IMPORT_PORT IMPORT_STORAGE_DIR=$WORK/files BRIDGE_SIGNING_KEY=$(signing_key import-service) \
  $RELEASE/import-service \
  >"$WORK/import.log" 2>&1 & PIDS+=($!)
# Bayzat's documented limit: one request a second per key (plus the default 25 ms margin).
SYNC_SERVICE_BIND=127.0.0.1:$SYNC_PORT BAYZAT_RATE_LIMIT_DELAY=1 BRIDGE_SIGNING_KEY=$(signing_key sync-service) \
  CONFIG_SERVICE_INTERNAL_URL=http://$CONFIG_SERVICE_INTERNAL_BIND $RELEASE/sync-service \
  >"$WORK/sync.log" 2>&1 & PIDS+=($!)
for url in "$SIM/__admin/stats" "$BASELINE_SIM/__admin/stats" "http://127.0.0.1:$IMPORT_PORT/readyz" "http://127.0.0.1:$SYNC_PORT/readyz"; do
  wait_ready "$url"
done
# sync-service consumes every company's queue before the clock starts.
for _ in $(seq 1 60); do
  consumers=$(rabbitmqctl -q list_queues name consumers 2>/dev/null | awk -v ns="$AMQP_NAMESPACE" 'index($1, ns "sync.company.") == 1 && $2 > 0' | wc -l)
  [ "$consumers" -ge 5 ] && break; sleep 0.5
done
TOKEN=$($RELEASE/config-service mint-token --key-file "$PORTAL_KEY_FILE" --sub bench --role operator --ttl 3600)

echo "bench-sync: uploading a report of $punches punches for 5 companies" >&2
start=$(date +%s.%N)
status=$(bridge_curl -sS -o "$WORK/import.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
  --data-binary @"$WORK/report.csv" "http://127.0.0.1:$IMPORT_PORT/v1/imports")
[ "$status" = 201 ] || { echo "bench-sync: upload answered $status: $(head -c 500 "$WORK/import.json")" >&2; exit 1; }
python3 bench/sync_stats.py wait "$SIM" "$punches" 600
end=$(date +%s.%N)
read -r http_429 max_records min_gap_ms < <(python3 bench/sync_stats.py figures "$SIM")

echo "bench-sync: baseline (sequential, 1 s after each response; about 5 minutes)" >&2
bstart=$(date +%s.%N)
python3 bench/sync_stats.py baseline "$BASELINE_SIM" "$WORK/punches.json"
bend=$(date +%s.%N)
wall=$(calc "$end - $start")
baseline=$(calc "$bend - $bstart")
printf 'bench-sync: companies=5 punches=%d wall_s=%.1f ideal_s=60 efficiency=%.3f http_429=%d max_records=%d min_gap_ms=%d baseline_wall_s=%.1f speedup=%.2f\n' \
  "$punches" "$wall" "$(calc "60 / $wall")" "$http_429" "$max_records" "$min_gap_ms" "$baseline" "$(calc "$baseline / $wall")"
