# Sourced by the bench-* scripts: a run's own work folder, database and broker namespace, removed
# with every process the run started when the script exits. Set BENCH (the script's name) first.
# The release binaries, wherever CARGO_TARGET_DIR puts them.
RELEASE=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d "/tmp/$BENCH.XXXXXX")
DB=${BENCH//-/_}_$$
AMQP_NAMESPACE=${BENCH//-/}$$.
PSQL=(psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1)
PIDS=()
# Databases a run makes besides $DB; dropped with it.
EXTRA_DBS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "$DB" "${EXTRA_DBS[@]}"; do
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^$AMQP_NAMESPACE" || true); do
    rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
  done
  # KEEP_WORK=1 keeps the work folder (logs) for a look afterwards.
  if [ -n "${KEEP_WORK:-}" ]; then echo "$BENCH: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_ready() { # url
  for _ in $(seq 1 120); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$BENCH: $1 did not answer" >&2; exit 1
}
calc() { python3 -c "print($1)"; }
