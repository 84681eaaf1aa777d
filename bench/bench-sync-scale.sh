#!/usr/bin/env bash
# make bench-sync-scale: many companies, each with its own Bayzat key, through one import and
# SYNC_REPLICAS sync-service replicas to bayzat-sim at Bayzat's real pace (one request a second per
# key, 20 records a request). Every company could send from the first second on, so the ideal wall
# time is PUNCHES_PER_COMPANY / 20 seconds. Prints one `bench-sync-scale:` line (stderr tells when
# each company's first request came, and where the write figure comes from).
#
#   COMPANIES=200 PUNCHES_PER_COMPANY=600 SYNC_REPLICAS=2 (the defaults) make bench-sync-scale
#   BENCH_BIN_DIR=dir: use the binaries in dir instead of building target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-sync-scale
. bench/lib.sh
COMPANIES=${COMPANIES:-200}
PUNCHES_PER_COMPANY=${PUNCHES_PER_COMPANY:-600}
SYNC_REPLICAS=${SYNC_REPLICAS:-2}
# Seconds to wait for every punch to reach the simulator.
TIMEOUT_S=${TIMEOUT_S:-900}

release_binaries
punches=$(python3 bench/generate_sync_scale.py "$WORK" "$COMPANIES" "$PUNCHES_PER_COMPANY")
ideal=$(calc "($PUNCHES_PER_COMPANY + 19) // 20")
DBPSQL=("${PSQL[@]}" -d "$DB" -At)
. bench/keys.sh
export RUST_LOG=${RUST_LOG:-info}
# config-service's REST limit per caller: loading hundreds of companies is not slowed down.
CONFIG_RATE_LIMIT=${CONFIG_RATE_LIMIT:-100000}
. bench/stack.sh

# Writes: pg_stat_statements when the server preloads it, otherwise the database's tuple counters.
if "${DBPSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 \
  && "${DBPSQL[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1; then
  writes_source=pg_stat_statements
else
  writes_source=pg_stat_database
fi
db_counters() { # prints: transactions committed, rows inserted+updated+deleted
  "${DBPSQL[@]}" -F' ' -c "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = '$DB'"
}
statement_writes() {
  "${DBPSQL[@]}" -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = '$DB' AND (query ~* '^\\s*(insert|update|delete|copy)' OR query ~* '^\\s*with .*\\m(insert|update|delete)\\M')"
}
read -r xacts_before tuples_before < <(db_counters)

echo "$BENCH: uploading a report of $punches punches for $COMPANIES companies" >&2
start=$(date +%s.%N)
status=$(bridge_curl -sS -o "$WORK/import.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
  --data-binary @"$WORK/report.csv" "$IMPORT/v1/imports")
[ "$status" = 201 ] || { echo "$BENCH: upload answered $status: $(head -c 500 "$WORK/import.json")" >&2; exit 1; }
uploaded=$(date +%s.%N)
import_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/import.json")
python3 bench/sync_scale_stats.py wait "$SIM" "$punches" "$TIMEOUT_S"
end=$(date +%s.%N)
read -r first_min first_median first_max last_answer started_keys gap_median gap_max last_first last_gap < <(python3 bench/sync_scale_stats.py starts "$SIM" "$start")
lag=$(python3 bench/sync_scale_stats.py lag "$IMPORT" "$TOKEN" "$import_id" "$punches" "$last_answer" 600)
read -r sync_cpu sync_rss < <(python3 bench/sync_scale_stats.py proc "${SYNC_PIDS[@]}")
read -r http_429 max_records min_gap_ms < <(python3 bench/sync_stats.py figures "$SIM")

# Postgres reports a backend's counters within a second of its last transaction, or ten once idle.
prev=""
for _ in $(seq 1 15); do
  cur=$(db_counters); [ "$cur" = "$prev" ] && break; prev=$cur; sleep 1
done
read -r xacts_after tuples_after <<<"$cur"
if [ "$writes_source" = pg_stat_statements ]; then
  writes=$(statement_writes); writes_note="write statements (pg_stat_statements)"
else
  writes=$((tuples_after - tuples_before)); writes_note="rows inserted+updated+deleted (pg_stat_database; pg_stat_statements is not preloaded)"
fi
# When each company's punches reached sync-service (its deliveries stored), after the upload began.
read -r handed_min handed_median handed_max < <("${DBPSQL[@]}" -F' ' -c "
  SELECT round(min(s), 1), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s))::numeric, 1), round(max(s), 1)
  FROM (SELECT extract(epoch FROM min(created_at)) - $start AS s FROM sync.deliveries GROUP BY company_id) firsts")
# When import-service's relay published the companies' punches (its rounds began; sent_at is the
# time of their transaction), after the upload began.
read -r published_first published_last < <("${DBPSQL[@]}" -F' ' -c "
  SELECT round(extract(epoch FROM min(sent_at)) - $start, 1), round(extract(epoch FROM max(sent_at)) - $start, 1)
  FROM import.outbox WHERE message_type = 'punches.ready.v1'")
wall=$(calc "$end - $start")
echo "$BENCH: upload answered after $(calc "round($uploaded - $start, 1)") s; first request per company after the upload began: min ${first_min} s, median ${first_median} s, max ${first_max} s ($started_keys keys)" >&2
echo "$BENCH: a key's requests came on average ${gap_median} ms apart (the median of keys; the slowest key ${gap_max} ms), against 1000 ms after each answer or $((1000 + ${BAYZAT_RATE_LIMIT_MARGIN_MS:-25})) ms after each start, whichever is sooner" >&2
echo "$BENCH: the key whose last request came last began ${last_first} s after the upload began, its requests ${last_gap} ms apart on average" >&2
echo "$BENCH: import-service published the punches from ${published_first} s to ${published_last} s after the upload began" >&2
echo "$BENCH: punches reached sync-service per company after the upload began: min ${handed_min} s, median ${handed_median} s, max ${handed_max} s" >&2
echo "$BENCH: db_writes_per_punch counts $writes_note; transactions per punch $(calc "round(($xacts_after - $xacts_before) / $punches, 2)")" >&2
printf '%s: companies=%d punches=%d wall_s=%.1f ideal_s=%d efficiency=%.3f http_429=%d max_records=%d min_gap_ms=%d sync_cpu_s=%.1f sync_peak_rss_mb=%d import_status_lag_s=%.1f db_writes_per_punch=%.1f\n' \
  "$BENCH" "$COMPANIES" "$punches" "$wall" "$ideal" "$(calc "$ideal / $wall")" "$http_429" "$max_records" "$min_gap_ms" \
  "$sync_cpu" "$sync_rss" "$lag" "$(calc "$writes / $punches")"
