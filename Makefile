# The commands people type. `make deps && make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
FIXTURES ?= tests/fixtures
# Where cargo puts the binaries (CARGO_TARGET_DIR when set).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: deps build build-tests test fmt lint ops unit serial run sim down load-directory token bench-import bench-sync bench-sync-scale bench-latency bench-clocks bench-chaos demo probe console-sign-in fuzz-api compose-smoke

## Install (apt-get) and start PostgreSQL and RabbitMQ when they are missing, and promtool,
## alertmanager and amtool.
deps:
	@scripts/deps.sh

build:
	$(CARGO) build --workspace --bins

## Format check, the Prometheus files, then the workspace compiled once with clippy's lints as
## errors, then every test in it.
test: fmt ops unit serial

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `make test` lints while it compiles: cargo runs clippy-driver (the compiler with clippy's lints,
# which is what `cargo clippy` runs too) on the workspace's own crates only, with warnings as
# errors, and it builds them as well. One compile then serves the lints, the tests and the
# binaries the system tests start, instead of a clippy check, a build of the binaries and a build
# of the tests, each with its own set of dependency features.
LINTED := RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)" \
  CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# The Prometheus configuration and alert rules, checked and unit-tested by promtool (make deps
# installs it); rule_files are found beside the file that names them. Then every query of the
# Grafana dashboards must parse as PromQL: promtool checks them as recording rules, with Grafana's
# variables filled in. (tests/tests/metrics.rs checks that the metrics they name exist.)
# Last, the Alertmanager configuration is checked by amtool (make deps installs it), and every
# alert of alerts.yml must be routed to both of its receivers (deploy/alertmanager/test-routes.sh).
DASHBOARD_QUERIES_AS_RULES := {groups: [{name: "dashboards", rules: ([.[] | .. | objects | select(has("expr")) | .expr] | to_entries | map({record: "dashboard:query_\(.key)", expr: (.value | gsub("\\$$__rate_interval"; "5m") | gsub("\\$$company"; ".*"))}))}]}
ops:
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts.test.yml
	@queries=$$(mktemp --suffix=.yml) && trap 'rm -f "$$queries"' EXIT \
	  && jq -s '$(DASHBOARD_QUERIES_AS_RULES)' deploy/grafana/dashboards/*.json > "$$queries" \
	  && echo "promtool check rules <the queries of deploy/grafana/dashboards/*.json>" \
	  && promtool check rules "$$queries"
	amtool check-config deploy/alertmanager/alertmanager.yml
	deploy/alertmanager/test-routes.sh deploy/alertmanager/alertmanager.yml deploy/prometheus/alerts.yml

# Tests run in parallel (cargo-nextest: every test in a process of its own, several at once across
# all the test binaries; .config/nextest.toml), each with its own database and broker namespace.
# Tests named serial_* restart shared servers or kill processes: they run afterwards, one at a time.
build-tests:
	$(LINTED) $(CARGO) test --workspace --no-run

unit: build-tests
	$(LINTED) $(CARGO) nextest run --workspace -E 'not test(/(^|::)serial_/)'

serial: build-tests
	$(LINTED) $(CARGO) nextest run --workspace --profile serial -E 'test(/(^|::)serial_/)'

## Try it: start everything, load the fixture directory, upload basic.csv, follow the deliveries
## and print what happened per company. Keeps running until Ctrl-C or `make down`.
demo:
	@FIXTURES=$(FIXTURES) scripts/demo.sh

## All services and the simulator, locally, against the local Postgres and RabbitMQ.
run: build
	@FIXTURES=$(FIXTURES) scripts/run.sh

## The Bayzat simulator alone, with the fixture keys.
sim:
	$(CARGO) run -p bayzat-sim -- --bind 127.0.0.1:8090 --load $(FIXTURES)/directory.json

## Load companies, report names, Bayzat keys (pointed at the local simulator) and employees into
## the config-service `make run` started.
FILE ?= $(FIXTURES)/directory.json
load-directory: build
	@BRIDGE_PORTAL_SIGNING_KEY="$$(cat .run/keys/portal.key)" $(TARGET_DIR)/debug/config-service load-directory $(FILE) \
	  --url http://127.0.0.1:8081 --api-url http://127.0.0.1:8090/attendance

## Print a token for the local services: make token ROLE=operator [COMPANIES=advline]
ROLE ?= admin
token: build
	@$(TARGET_DIR)/debug/config-service mint-token --key-file .run/keys/portal.key --sub $$USER --role $(ROLE) \
	  $(if $(COMPANIES),--companies $(COMPANIES),)

## Import benchmark: 1,000,000 rows through the HTTP API against a psql \copy baseline, then the
## same rows as an Excel workbook (BENCH_ROWS=… for another size). Prints a `bench-import:` line
## and a `bench-import-xlsx:` line (wall time against the CSV's, peak RSS).
bench-import:
	@bench/bench-import.sh

## Sync benchmark: 5 companies x 1,200 punches at Bayzat's real pace, against the original
## sequential job. Prints one `bench-sync:` line.
bench-sync:
	@bench/bench-sync.sh

## Sync at scale: 200 companies with their own keys x 600 punches through one import and two
## sync-service replicas at Bayzat's real pace (ideal 30 s). Prints one `bench-sync-scale:` line
## (wall time, efficiency, 429s, sync-service CPU and peak RSS, import status lag, database writes
## per punch). COMPANIES=… PUNCHES_PER_COMPANY=… SYNC_REPLICAS=… for other sizes.
bench-sync-scale:
	@bench/bench-sync-scale.sh

## Hand-over latency: 50 uploads of 50 rows to a manual-frequency company, each once its sender is
## idle; p50, p99 and max from the upload's 201 to the start of the Bayzat request carrying its
## first punch. Prints one `bench-latency:` line. ROUNDS=… ROWS=… for other sizes.
bench-latency:
	@bench/bench-latency.sh

## Clock push benchmark: 50 simulated ZKTeco terminals (clock-sim) over 10 manual-frequency
## companies push 100 punches a second for 60 s to import-service's clock listener, 5 % of uploads
## sent twice, one clock offline for 20 s then catching up; lost, doubled, and p50, p99 and max from
## the clock's POST to the start of the Bayzat request carrying the punch. Prints one
## `bench-clocks:` line. CLOCKS=… COMPANIES=… RATE=… DURATION_S=… for other sizes.
bench-clocks:
	@bench/bench-clocks.sh

## Chaos benchmark: 10 companies x 2,000 punches through overlapping imports and two sync-service
## replicas to a simulator failing about 20 % of requests, while processes are killed and RabbitMQ
## and Postgres restart (their own instances). Prints one `bench-chaos:` line; SEED=n repeats a run.
bench-chaos:
	@bench/bench-chaos.sh

## The Docker Compose stack for real, without Docker Hub: installs Docker and the compose plugin
## when missing, builds the release binaries and every image locally (deploy/compose.offline.yml),
## starts the stack, checks it through its published ports (readiness, Prometheus targets, basic.csv
## delivered exactly, sync-service restarted mid-delivery, three replicas at Bayzat's pace), then
## removes it. Prints `compose-smoke:` lines. Not part of `make test`.
compose-smoke:
	@scripts/compose-smoke.sh

## Fuzz the three REST APIs against their OpenAPI documents (schemathesis from PyPI, in a virtualenv)
## as an admin, a viewer and a company-limited operator, on a stack of their own; then call them
## through generated Python clients. Prints `fuzz-api:` lines. Not part of `make test`.
fuzz-api:
	@FIXTURES=$(FIXTURES) scripts/fuzz-api.sh

## A page that signs you in at the local console (make run or make demo) when opened within a
## minute: make console-sign-in [ROLE=operator]
console-sign-in: build
	@. scripts/stack.sh; echo "open file://$$(console_sign_in_page $${USER:-me} $(ROLE))"

## Check a Bayzat environment before go-live (docs/contract-probe.md). Keys from the environment:
## BAYZAT_PROBE_KEY=… [BAYZAT_PROBE_SECOND_KEY=…] make probe [API_URL=https://…/attendance] [EMPLOYEE=…]
API_URL ?= http://127.0.0.1:8090/attendance
probe:
	$(CARGO) run -q -p bayzat-probe -- --api-url $(API_URL) $(if $(EMPLOYEE),--employee $(EMPLOYEE),)

## Stop what `make run` started.
down:
	@for f in .run/*.pid; do [ -f "$$f" ] && kill "$$(cat $$f)" 2>/dev/null; rm -f "$$f"; done; true
