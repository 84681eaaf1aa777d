#!/usr/bin/env bash
# make bench-import: a 1,000,000-row daily report through the HTTP API of a release build,
# against a baseline that stores the same rows and punches with psql \copy; then the import's rows
# exported as CSV (rows.csv): time to the first byte, the whole export, and import-service's peak
# resident memory while it ran. Then the same rows as an Excel workbook (.xlsx), imported by a
# fresh import-service into a fresh database: its wall time against the CSV import's, and its
# peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_ROWS:-1000000}
BENCH=bench-import
. bench/lib.sh

echo "bench-import: building release binaries" >&2
cargo build --release -q -p config-service -p import-service
cargo build --release -q -p workbook --example report_to_xlsx
echo "bench-import: generating $ROWS rows" >&2
read -r rows punches < <(python3 bench/generate_import.py "$ROWS" "$WORK")
"${PSQL[@]}" -c "CREATE DATABASE $DB"

export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
export AMQP_NAMESPACE
. bench/keys.sh
export CONFIG_SERVICE_INTERNAL_BIND=127.0.0.1:$(free_port)
export BRIDGE_MASTER_KEYS=bench:$(head -c 32 /dev/urandom | base64)
export RUST_LOG=warn
CONFIG_PORT=$(free_port)
IMPORT_PORT=$(free_port)
IMPORT_SIGNING_KEY=$(signing_key import-service)
start_import_service() { # database: starts import-service on $IMPORT_PORT, sets IMPORT_PID
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/$1 CONFIG_SERVICE_URL=http://127.0.0.1:$CONFIG_PORT \
    IMPORT_SERVICE_BIND=127.0.0.1:$IMPORT_PORT IMPORT_STORAGE_DIR=$WORK/files IMPORT_MAX_UPLOAD_BYTES=1000000000 \
    BRIDGE_SIGNING_KEY=$IMPORT_SIGNING_KEY $RELEASE/import-service >>"$WORK/import.log" 2>&1 & IMPORT_PID=$!
  PIDS+=("$IMPORT_PID")
}
CONFIG_SERVICE_BIND=127.0.0.1:$CONFIG_PORT $RELEASE/config-service >"$WORK/config.log" 2>&1 & PIDS+=($!)
start_import_service "$DB"
for port in $CONFIG_PORT $IMPORT_PORT; do wait_ready "http://127.0.0.1:$port/readyz"; done
BRIDGE_PORTAL_SIGNING_KEY=$(cat "$PORTAL_KEY_FILE") $RELEASE/config-service load-directory "$WORK/directory.json" --url "http://127.0.0.1:$CONFIG_PORT" >/dev/null
TOKEN=$($RELEASE/config-service mint-token --key-file "$PORTAL_KEY_FILE" --sub bench --role operator --ttl 3600)

echo "bench-import: uploading $(du -h "$WORK/report.csv" | cut -f1) through the API" >&2
start=$(date +%s.%N)
status=$(bridge_curl -sS -o "$WORK/import.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
  --data-binary @"$WORK/report.csv" "http://127.0.0.1:$IMPORT_PORT/v1/imports")
end=$(date +%s.%N)
[ "$status" = 201 ] || { echo "bench-import: upload answered $status: $(head -c 500 "$WORK/import.json")" >&2; exit 1; }
wall=$(calc "$end - $start")
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$IMPORT_PID/status")
stored_rows=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM import.import_rows")
stored_punches=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM import.punches")
outbox=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM import.outbox WHERE message_type = 'punches.ready.v1'")
echo "bench-import: stored rows=$stored_rows punches=$stored_punches ready messages=$outbox" >&2

# The baseline is timed on a quiet database: the service has published the import's messages,
# and the vacuum and checkpoint the import calls for are done (none of this is timed).
for _ in $(seq 1 600); do
  [ "$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM import.outbox WHERE sent_at IS NULL")" = 0 ] && break
  sleep 0.5
done
"${PSQL[@]}" -d "$DB" -c "VACUUM ANALYZE import.import_rows, import.punches, import.outbox" -c "CHECKPOINT"

# Baseline: the same data with \copy, in the file's order, into tables of the same shape and key.
"${PSQL[@]}" -d "$DB" -c "CREATE SCHEMA baseline;
  CREATE TABLE baseline.import_rows (LIKE import.import_rows INCLUDING ALL);
  CREATE TABLE baseline.punches (id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL, emp_id TEXT COLLATE \"C\" NOT NULL,
    punch_time TIMESTAMP NOT NULL, punch_type TEXT NOT NULL, import_id BIGINT NOT NULL, line INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'new', error TEXT, state_at TIMESTAMPTZ, batch_id UUID,
    UNIQUE (company_id, emp_id, punch_time));"
bstart=$(date +%s.%N)
"${PSQL[@]}" -d "$DB" -c "\\copy baseline.import_rows (import_id, line, raw, outcome, errors, warnings, department, company_id, employee_id, bayzat_emp_id, work_date, punches, punch_ids, known_punch_ids, queued) FROM '$WORK/rows.copy'"
"${PSQL[@]}" -d "$DB" -c "\\copy baseline.punches (company_id, emp_id, punch_time, punch_type, import_id, line) FROM '$WORK/punches.copy'"
bend=$(date +%s.%N)
baseline=$(calc "$bend - $bstart")

# The export. VmHWM is the process's peak since it started, which the import may have set, so the
# export's peak is VmRSS sampled every 50 ms while the export runs (the highest sample).
vm() { # field: its kB in import-service's /proc status
  local key value _
  while read -r key value _; do [ "$key" = "$1:" ] && { echo "$value"; return; }; done <"/proc/$IMPORT_PID/status"
}
import_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/import.json")
echo "bench-import: exporting import $import_id as CSV (resident before: $(( $(vm VmRSS) / 1024 )) MB, peak so far: $(( $(vm VmHWM) / 1024 )) MB)" >&2
bridge_curl -sS -o "$WORK/rows.csv" -w '%{http_code} %{time_starttransfer} %{time_total}\n' -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$IMPORT_PORT/v1/imports/$import_id/rows.csv" >"$WORK/export.out" & EXPORT_PID=$!
export_peak_kb=0
while kill -0 "$EXPORT_PID" 2>/dev/null; do
  rss=$(vm VmRSS)
  [ "${rss:-0}" -gt "$export_peak_kb" ] && export_peak_kb=$rss
  sleep 0.05
done
wait "$EXPORT_PID" || { echo "bench-import: the export failed" >&2; exit 1; }
read -r export_status first_byte_s export_s <"$WORK/export.out"
[ "$export_status" = 200 ] || { echo "bench-import: the export answered $export_status: $(head -c 500 "$WORK/rows.csv")" >&2; exit 1; }
exported=$(( $(wc -l <"$WORK/rows.csv") - 1 ))
[ "$exported" = "$stored_rows" ] || { echo "bench-import: the export has $exported rows, $stored_rows are stored" >&2; exit 1; }
echo "bench-import: exported $exported rows, $(du -h "$WORK/rows.csv" | cut -f1)" >&2

printf 'bench-import: rows=%d punches=%d wall_s=%.1f rows_per_s=%.0f copy_baseline_s=%.1f ratio=%.2f peak_rss_mb=%.0f export_s=%.1f export_first_byte_ms=%.0f export_peak_rss_mb=%.0f\n' \
  "$rows" "$punches" "$wall" "$(calc "$rows / $wall")" "$baseline" "$(calc "$wall / $baseline")" "$(calc "$peak_kb / 1024")" \
  "$export_s" "$(calc "$first_byte_s * 1000")" "$(calc "$export_peak_kb / 1024")"

# The same rows as a workbook: ids as numbers, dates and times as date and time cells. The
# import-service that imported the CSV stops, and a fresh one imports the workbook into a fresh
# database: the import does all the work the CSV's did (no punch is known yet), and its peak
# resident memory (VmHWM, the peak over the process's life) is the workbook import's alone.
echo "bench-import: writing the rows as a workbook" >&2
$RELEASE/examples/report_to_xlsx "$WORK/report.csv" "$WORK/report.xlsx"
XLSX_DB=${DB}_xlsx
EXTRA_DBS+=("$XLSX_DB")
"${PSQL[@]}" -c "CREATE DATABASE $XLSX_DB"
kill "$IMPORT_PID"
wait "$IMPORT_PID" 2>/dev/null || true
start_import_service "$XLSX_DB"
wait_ready "http://127.0.0.1:$IMPORT_PORT/readyz"
echo "bench-import: uploading $(du -h "$WORK/report.xlsx" | cut -f1) of workbook through the API" >&2
start=$(date +%s.%N)
status=$(bridge_curl -sS -o "$WORK/import-xlsx.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' \
  --data-binary @"$WORK/report.xlsx" "http://127.0.0.1:$IMPORT_PORT/v1/imports?filename=report.xlsx")
end=$(date +%s.%N)
[ "$status" = 201 ] || { echo "bench-import: the workbook upload answered $status: $(head -c 500 "$WORK/import-xlsx.json")" >&2; exit 1; }
xlsx_wall=$(calc "$end - $start")
xlsx_peak_kb=$(vm VmHWM)
read -r xlsx_format xlsx_sheet < <(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["facts"]; print(f.get("format"), f.get("sheet"))' "$WORK/import-xlsx.json")
xlsx_rows=$("${PSQL[@]}" -d "$XLSX_DB" -Atc "SELECT count(*) FROM import.import_rows")
xlsx_punches=$("${PSQL[@]}" -d "$XLSX_DB" -Atc "SELECT count(*) FROM import.punches")
echo "bench-import: workbook ($xlsx_format, sheet $xlsx_sheet) stored rows=$xlsx_rows punches=$xlsx_punches" >&2
[ "$xlsx_format" = xlsx ] || { echo "bench-import: the workbook was read as $xlsx_format" >&2; exit 1; }
[ "$xlsx_rows" = "$stored_rows" ] && [ "$xlsx_punches" = "$stored_punches" ] ||
  { echo "bench-import: the workbook gave rows=$xlsx_rows punches=$xlsx_punches, the CSV rows=$stored_rows punches=$stored_punches" >&2; exit 1; }

printf 'bench-import-xlsx: rows=%d wall_s=%.1f peak_rss_mb=%.0f ratio_to_csv=%.2f\n' \
  "$xlsx_rows" "$xlsx_wall" "$(calc "$xlsx_peak_kb / 1024")" "$(calc "$xlsx_wall / $wall")"
