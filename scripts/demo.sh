#!/usr/bin/env bash
# make demo: installs and starts what is missing, builds, starts the three services and bayzat-sim,
# loads the fixture directory, uploads basic.csv as an operator, follows the deliveries until they
# settle and prints what happened per company. Then a simulated ZKTeco terminal (clock-sim) pushes
# a few punches to import-service's clock listener (IMPORT_CLOCK_BIND); it is approved for advline
# as an admin and its punches are shown reaching bayzat-sim. The services keep running until
# Ctrl-C (or `make down`, which stops the terminal too). Each run starts from empty demo data: its
# own database and broker namespace, dropped and made again; `make run`'s data is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
echo "demo: building"
cargo build --workspace --bins

export BRIDGE_DATABASE=${BRIDGE_DATABASE:-attendance_bridge_demo}
export AMQP_NAMESPACE=${AMQP_NAMESPACE:-demo.}
export RUN_DIR=${RUN_DIR:-.run}
export IMPORT_STORAGE_DIR=${IMPORT_STORAGE_DIR:-$RUN_DIR/demo-imports}
# The listener ZKTeco terminals push to (the /iclock/ endpoints), apart from the REST API.
export IMPORT_CLOCK_BIND=${IMPORT_CLOCK_BIND:-127.0.0.1:8088}
. scripts/stack.sh

stop_all
echo "demo: resetting the demo data (database $DATABASE, broker namespace '$AMQP_NAMESPACE', $IMPORT_STORAGE_DIR)"
psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DATABASE"
rm -rf "$IMPORT_STORAGE_DIR"
if command -v rabbitmqctl >/dev/null; then
  for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^$AMQP_NAMESPACE" || true); do
    rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
  done
fi

trap 'stop_all; exit 0' INT TERM
start_all
echo "demo: loading $FIXTURES/directory.json (companies, report names, employees, Bayzat keys)"
BRIDGE_PORTAL_SIGNING_KEY="$(signing_key portal)" \
  "$BIN/config-service" load-directory "$FIXTURES/directory.json" --url "$CONFIG_SERVICE_URL" \
  --api-url "http://$SIM_BIND/attendance"
OPERATOR_TOKEN=$("$BIN/config-service" mint-token --key-file "$KEYS_DIR/portal.key" --sub demo-operator --role operator --ttl 3600)
python3 scripts/demo.py --file "$FIXTURES/basic.csv" --directory "$FIXTURES/directory.json" \
  --token "$OPERATOR_TOKEN" --config "http://$CONFIG_SERVICE_BIND" --imports "http://$IMPORT_SERVICE_BIND" \
  --sync "http://$SYNC_SERVICE_BIND" --sim "http://$SIM_BIND"

# A terminal on site: one clock-sim push terminal punching four of advline's employees, one punch
# every two seconds for 12 s, its clock on advline's time zone. It calls unknown, so it waits as
# pending until demo_clock.py approves it.
ADMIN_TOKEN=$("$BIN/config-service" mint-token --key-file "$KEYS_DIR/portal.key" --sub demo-admin --role admin --ttl 3600)
CLOCK_CSV=$RUN_DIR/clock-sim-punches.csv
rm -f "$CLOCK_CSV"
start clock-sim env TZ=Asia/Dubai "$BIN/clock-sim" push --server "http://$IMPORT_CLOCK_BIND" --serial-prefix DEMO \
  --terminals 1 --rate 0.5 --duration-secs 12 --pins 1001,1002,1003,1005 --heartbeat-secs 5 --drain-secs 60 \
  --csv "$CLOCK_CSV"
python3 scripts/demo_clock.py --imports "http://$IMPORT_SERVICE_BIND" --token "$ADMIN_TOKEN" --sim "http://$SIM_BIND" \
  --listener "http://$IMPORT_CLOCK_BIND" --serial DEMO00001 --company advline --time-zone Asia/Dubai \
  --directory "$FIXTURES/directory.json" --csv "$CLOCK_CSV" --pid "$(cat "$RUN_DIR/clock-sim.pid")"
echo
echo "demo: the console is at http://$CONSOLE_BIND; open this page within a minute to sign in as an admin"
echo "  (make console-sign-in writes a new one):"
echo "  file://$(console_sign_in_page demo-admin admin)"
echo "demo: running; Ctrl-C here or 'make down' stops everything. A token for your own calls:"
echo "  export TOKEN=$OPERATOR_TOKEN"
wait
