#!/usr/bin/env bash
# make bench-latency: how soon a punch leaves for Bayzat after its report is uploaded. ROUNDS (50)
# uploads of ROWS (50) rows to a company whose sync frequency is manual (its punches go at once),
# each once its sender is idle; for each, the time from the upload's 201 to the start of the
# Bayzat request carrying its first punch (bench/latency.py). Release binaries (BENCH_BIN_DIR=dir:
# those in dir), bayzat-sim at Bayzat's real pace. Prints one `bench-latency:` line.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-latency
. bench/lib.sh
ROUNDS=${ROUNDS:-50}
ROWS=${ROWS:-50}

release_binaries
# One company, ROWS employees (the report it writes is not used).
python3 bench/generate_sync_scale.py "$WORK" 1 "$((2 * ROWS))" >/dev/null
. bench/keys.sh
. bench/stack.sh

echo "$BENCH: $ROUNDS uploads of $ROWS rows" >&2
read -r p50 p99 max < <(python3 bench/latency.py "$SIM" "$IMPORT" "$TOKEN" "$WORK/directory.json" "$ROUNDS" "$ROWS")
read -r http_429 max_records min_gap_ms < <(python3 bench/sync_stats.py figures "$SIM")
echo "$BENCH: rounds=$ROUNDS rows=$ROWS p50_ms=$p50 p99_ms=$p99 max_ms=$max http_429=$http_429 max_records=$max_records"
