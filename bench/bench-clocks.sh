#!/usr/bin/env bash
# make bench-clocks: ZKTeco push terminals to Bayzat. CLOCKS (50) clock-sim terminals, registered
# ahead through the REST API (so approved) over COMPANIES (10) companies whose sync frequency is
# manual, each with its own key in bayzat-sim at Bayzat's real pace, push RATE (100) punches a
# second in all for DURATION_S (60) to import-service's clock listener (IMPORT_CLOCK_BIND); 5 % of
# the acknowledged uploads are sent a second time, and the first clock is off the network from
# 20 s to 40 s, keeping its punches and catching up once back. bench/clocks.py then matches
# clock-sim's CSV of every punch with bayzat-sim's ledgers by employee and time: lost, doubled,
# and the latency from the clock's POST to the start of the Bayzat request that carried the punch.
# Release binaries (BENCH_BIN_DIR=dir: those in dir). Prints one `bench-clocks:` line.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-clocks
. bench/lib.sh
CLOCKS=${CLOCKS:-50}
COMPANIES=${COMPANIES:-10}
EMPLOYEES=${EMPLOYEES:-100}
RATE=${RATE:-100}
DURATION_S=${DURATION_S:-60}
SEED=${SEED:-1}

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  RELEASE=$BENCH_BIN_DIR
else
  echo "$BENCH: building release binaries" >&2
  cargo build --release -q -p bayzat-sim -p config-service -p import-service -p sync-service -p clock-sim
fi
PINS=$(python3 bench/generate_clocks.py "$WORK" "$COMPANIES" "$EMPLOYEES")
. bench/keys.sh
# import-service listens to the terminals there (stack.sh starts it with this environment).
IMPORT_CLOCK_BIND=127.0.0.1:$(free_port)
export IMPORT_CLOCK_BIND
. bench/stack.sh
ADMIN_TOKEN=$($RELEASE/config-service mint-token --key-file "$PORTAL_KEY_FILE" --sub bench-admin --role admin --ttl 3600)

# Terminal i (CLK00001 onward) punches the PINs of company ((i - 1) % COMPANIES) + 1: it is
# registered for that company before it first calls, so it is approved from the start.
echo "$BENCH: registering $CLOCKS clocks" >&2
for i in $(seq 1 "$CLOCKS"); do
  serial=$(printf 'CLK%05d' "$i")
  company=$(printf 'clocks%02d' $(((i - 1) % COMPANIES + 1)))
  status=$(bridge_curl -sS -o "$WORK/clock.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"serial_number\": \"$serial\", \"companies\": [\"$company\"]}" \
    "$IMPORT/v1/clocks")
  [ "$status" = 201 ] || { echo "$BENCH: registering $serial answered $status: $(head -c 500 "$WORK/clock.json")" >&2; exit 1; }
done

echo "$BENCH: $CLOCKS clocks push $RATE punches a second for $DURATION_S s" >&2
# The terminals' clocks read the companies' time zone, as a terminal on site does.
clock_status=0
TZ=Asia/Dubai RUST_LOG=warn $RELEASE/clock-sim push --server "http://$IMPORT_CLOCK_BIND" --serial-prefix CLK \
  --terminals "$CLOCKS" --rate "$RATE" --duration-secs "$DURATION_S" --pins "$PINS" --batch-size 20 \
  --retransmit-ratio 0.05 --heartbeat-secs 10 --offline-terminals 1 --offline-after-secs 20 --offline-secs 20 \
  --drain-secs 60 --seed "$SEED" --csv "$WORK/punches.csv" >"$WORK/clock-sim.out" 2>"$WORK/clock-sim.log" || clock_status=$?
echo "$BENCH: clock-sim: $(cat "$WORK/clock-sim.out")" >&2
[ "$clock_status" = 0 ] || echo "$BENCH: clock-sim exited $clock_status (some punches never acknowledged)" >&2
punches=$(($(wc -l <"$WORK/punches.csv") - 1))

python3 bench/clocks.py wait "$SIM" "$WORK/punches.csv" 120
# When each punch's delivery reached sync-service, and how long import-service's outbox held the
# ready messages: the hand-over between the clock's OK and Bayzat, split.
deliveries="SELECT emp_id, to_char(local_time, 'YYYY-MM-DD HH24:MI:SS'), (extract(epoch FROM created_at) * 1000)::bigint FROM sync.deliveries"
"${PSQL[@]}" -d "$DB" -c "\copy ($deliveries) TO '$WORK/deliveries.csv' CSV"
# sync-service's own record of its Bayzat requests, beside the punches (KEEP_WORK=1 keeps them).
requests="SELECT company_id, records, status_code, outcome, latency_ms, (extract(epoch FROM started_at) * 1000)::bigint AS started_ms FROM sync.bayzat_requests ORDER BY id"
"${PSQL[@]}" -d "$DB" -c "\copy ($requests) TO '$WORK/requests.csv' CSV HEADER"
read -r delivered lost doubled p50 p99 max < <(python3 bench/clocks.py figures "$SIM" "$WORK/punches.csv" \
  "$WORK/deliveries.csv")
relay=$("${PSQL[@]}" -d "$DB" -At -c "SELECT count(*), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY
  extract(epoch FROM sent_at - created_at)) * 1000)::numeric), round((max(extract(epoch FROM sent_at - created_at)) * 1000)::numeric)
  FROM import.outbox WHERE message_type = 'punches.ready.v1'")
echo "$BENCH:   import-service's outbox: ready messages, published after (p50, max ms): ${relay//|/ }" >&2
read -r http_429 max_records min_gap_ms < <(python3 bench/sync_stats.py figures "$SIM")
# Where the machine's time went (stack.sh started bayzat-sim, config-service, import-service, then
# sync-service).
read -r import_cpu import_rss < <(python3 bench/sync_scale_stats.py proc "${PIDS[2]}")
read -r sync_cpu sync_rss < <(python3 bench/sync_scale_stats.py proc "${SYNC_PIDS[@]}")
echo "$BENCH: import-service ${import_cpu} s CPU, ${import_rss} MB; sync-service ${sync_cpu} s CPU, ${sync_rss} MB;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
echo "$BENCH: clocks=$CLOCKS punches=$punches delivered=$delivered lost=$lost doubled=$doubled p50_ms=$p50 p99_ms=$p99 max_ms=$max http_429=$http_429 max_records=$max_records"
