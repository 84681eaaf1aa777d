# The commands people type. `make deps && make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
FIXTURES ?= tests/fixtures
# Where cargo puts the binaries (CARGO_TARGET_DIR when set).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: deps build test fmt lint ops unit serial run sim down load-directory token bench-import bench-sync bench-chaos demo probe console-sign-in fuzz-api compose-smoke

## Install (apt-get) and start PostgreSQL and RabbitMQ when they are missing, and promtool.
deps:
	@scripts/deps.sh

build:
	$(CARGO) build --workspace --bins

## Format check, clippy with warnings as errors, the Prometheus files, then every test in the
## workspace.
test: fmt lint ops unit serial

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The Prometheus configuration and alert rules, checked and unit-tested by promtool (make deps
# installs it); rule_files are found beside the file that names them. Then every query of the
# Grafana dashboards must parse as PromQL: promtool checks them as recording rules, with Grafana's
# variables filled in. (tests/tests/metrics.rs checks that the metrics they name exist.)
DASHBOARD_QUERIES_AS_RULES := {groups: [{name: "dashboards", rules: ([.[] | .. | objects | select(has("expr")) | .expr] | to_entries | map({record: "dashboard:query_\(.key)", expr: (.value | gsub("\\$$__rate_interval"; "5m") | gsub("\\$$company"; ".*"))}))}]}
ops:
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts.test.yml
	@queries=$$(mktemp --suffix=.yml) && trap 'rm -f "$$queries"' EXIT \
	  && jq -s '$(DASHBOARD_QUERIES_AS_RULES)' deploy/grafana/dashboards/*.json > "$$queries" \
	  && echo "promtool check rules <the queries of deploy/grafana/dashboards/*.json>" \
	  && promtool check rules "$$queries"

# Tests run in parallel, each with its own database and broker namespace. Tests named serial_*
# restart shared servers or kill processes: they run afterwards, one at a time.
unit: build
	$(CARGO) test --workspace -- --skip serial_

serial: build
	$(CARGO) test --workspace -- serial_ --test-threads=1

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
