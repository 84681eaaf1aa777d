# Sourced by the bench-* scripts: a run's own work folder, database and broker namespace, removed
# with every process the run started when the script exits. Set BENCH (the script's name) first.
# BENCH_FUNCTIONS_ONLY=1 defines bridge_curl and nothing else.

# curl for the services' REST APIs: takes curl's arguments (not -D) and, while the answer is 429,
# waits as it says (Retry-After-Ms, else Retry-After in seconds, else 1 s) and sends the same
# request again (a body from a file is read again), at most BRIDGE_MAX_RATE_LIMIT_WAIT_S (300)
# seconds of waiting for one request. What curl writes to stdout (-w, a body without -o) is the final
# attempt's; its exit status is curl's. Each wait is told on stderr; still 429 past the limit: says
# so and returns 1.
bridge_curl() {
  local headers out rc status delay waited=0 times=0 max=${BRIDGE_MAX_RATE_LIMIT_WAIT_S:-300}
  headers=$(mktemp) out=$(mktemp)
  while :; do
    rc=0
    curl -D "$headers" "$@" >"$out" || rc=$?
    # The last answer's status and wait (a 100 Continue may come before it); header names in any
    # case, values without the CR.
    read -r status delay < <(awk '{ sub(/\r$/, "") }
      /^HTTP\// { status = $2; ms = ""; s = "" }
      tolower($1) == "retry-after-ms:" { ms = $2 }
      tolower($1) == "retry-after:" { s = $2 }
      END {
        number = "^[0-9]+([.][0-9]+)?$"
        wait = (ms ~ number) ? ms / 1000 : (s ~ number) ? s + 0 : 1
        print status + 0, wait
      }' "$headers")
    if [ "$status" != 429 ]; then
      cat "$out"
      rm -f "$headers" "$out"
      return "$rc"
    fi
    if awk -v waited="$waited" -v delay="$delay" -v max="$max" 'BEGIN { exit !(waited + delay > max) }'; then
      echo "bridge_curl: still answered 429 (rate limited) after $times waits, ${waited} s in all; waiting" \
        "the ${delay} s more it asks for would pass the $max s allowed (BRIDGE_MAX_RATE_LIMIT_WAIT_S)" >&2
      rm -f "$headers" "$out"
      return 1
    fi
    echo "bridge_curl: answered 429 (rate limited); sending it again in $delay s" >&2
    sleep "$delay"
    times=$((times + 1))
    waited=$(awk -v a="$waited" -v b="$delay" 'BEGIN { print a + b }')
  done
}
if [ -n "${BENCH_FUNCTIONS_ONLY:-}" ]; then return 0; fi

# The release binaries, wherever CARGO_TARGET_DIR puts them.
RELEASE=${CARGO_TARGET_DIR:-target}/release
# Builds the release binaries the stack runs, or with BENCH_BIN_DIR=dir takes those in dir (built
# before, e.g. to compare two versions).
release_binaries() {
  if [ -n "${BENCH_BIN_DIR:-}" ]; then
    RELEASE=$BENCH_BIN_DIR
  else
    echo "$BENCH: building release binaries" >&2
    cargo build --release -q -p bayzat-sim -p config-service -p import-service -p sync-service
  fi
}
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
