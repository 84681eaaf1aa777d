#!/usr/bin/env bash
# Starts the three services and bayzat-sim against the local Postgres and RabbitMQ, waits until
# each answers /readyz, and keeps them running until Ctrl-C (or `make down`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stack.sh

ensure_database
trap 'stop_all; exit 0' INT TERM
start_all
echo "running; Ctrl-C or 'make down' stops everything"
wait
