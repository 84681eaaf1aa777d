#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are installed and running on this machine (and Chromium with
# chromedriver for the console's browser tests, and promtool for `make ops`). Installs them with
# apt-get and starts them only when they are absent; does nothing when they already answer.
set -euo pipefail

log() { echo "deps: $*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port name seconds
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  echo "deps: $2 did not come up on 127.0.0.1:$1" >&2
  return 1
}

apt_updated=""
apt_update_once() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
}
apt_install() {
  apt_update_once
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || { echo "deps: cargo (the Rust toolchain) is required" >&2; exit 1; }

# The IT-portal guide's examples, which the tests run, use curl, jq and openssl.
for tool in curl jq openssl; do
  command -v "$tool" >/dev/null || apt_install "$tool"
done

# PostgreSQL: tests and `make run` connect as postgres@127.0.0.1 without a password.
if ! port_open 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for_port 5432 PostgreSQL 30
fi
log "PostgreSQL answers on 127.0.0.1:5432"

# RabbitMQ (3.8 or later for quorum queues with single active consumer).
if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_for_port 5672 RabbitMQ 90
fi
log "RabbitMQ answers on 127.0.0.1:5672"

# Headless Chromium and its WebDriver, for the console's browser tests.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi
log "Chromium and chromedriver are installed"

# promtool checks the Prometheus configuration and unit-tests the alert rules (`make ops`). It is
# taken alone from Debian's prometheus package: installing the package would also install (and on
# a systemd machine start) a Prometheus server on port 9090, where the compose stack's would go.
if ! command -v promtool >/dev/null; then
  apt_update_once
  log "installing promtool from Debian's prometheus package"
  unpacked=$(mktemp -d)
  # apt fetches as _apt when that user may write the folder.
  chown _apt "$unpacked" 2>/dev/null || true
  (cd "$unpacked" && apt-get download -qq prometheus >/dev/null && dpkg -x prometheus_*.deb root)
  install -m 0755 "$unpacked/root/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$unpacked"
fi
log "promtool $(promtool --version 2>&1 | head -n 1 | awk '{print $3}') is installed"
