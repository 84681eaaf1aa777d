#!/usr/bin/env bash
# make bench-chaos: 20,000 punches of ten companies through overlapping imports and two
# sync-service replicas to a simulator that fails about one request in five per key, while a
# seeded driver kills replicas, import-service and config-service, stops a replica with SIGTERM
# mid-call, revokes a company's key until a new one is set, and restarts RabbitMQ and Postgres
# once each. Its own Postgres cluster and RabbitMQ node, so the machine's servers are never
# touched. Prints one `bench-chaos:` line; SEED=n repeats a run's choices.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-chaos
. bench/lib.sh
chmod 755 "$WORK" # the Postgres cluster in it runs as the postgres user

if [ -z "${BENCH_NO_BUILD:-}" ]; then # BENCH_NO_BUILD=1 runs the release binaries already built
  echo "bench-chaos: building release binaries" >&2
  cargo build --release -q -p bayzat-sim -p config-service -p import-service -p sync-service
fi
python3 bench/chaos_data.py "$WORK" >/dev/null
status=0
python3 bench/chaos.py "$WORK" "$RELEASE" & PIDS+=($!)
wait $! || status=$?
# A run that misses a target keeps its logs.
[ "$status" = 0 ] || KEEP_WORK=1
exit "$status"
