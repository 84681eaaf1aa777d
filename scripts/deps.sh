#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are installed and running on this machine (and Chromium with
# chromedriver for the console's browser tests, promtool for `make ops`, alertmanager and amtool for
# `make ops` and the alert tests, PHP with Laravel and PHPUnit for the Laravel package's tests,
# aiosmtpd for config-service's mail tests).
# Installs them with apt-get and starts them only when they are absent; does nothing when they
# already answer.
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

# `make test` runs the tests with cargo-nextest and lints with clippy-driver while it compiles.
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest from crates.io"
  cargo install --locked --quiet cargo-nextest
fi
log "$(cargo nextest --version 2>/dev/null | head -n 1) is installed"
command -v clippy-driver >/dev/null || rustup component add clippy

# The IT-portal guide's examples, which the tests run, use curl, jq and openssl.
for tool in curl jq openssl; do
  command -v "$tool" >/dev/null || apt_install "$tool"
done

# Debian's aiosmtpd: the real SMTP server config-service's mail tests start and read
# (crates/test-support/scripts/smtp_sink.py, run with Debian's /usr/bin/python3).
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  apt_install python3-aiosmtpd
fi
log "aiosmtpd $(/usr/bin/python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)') is installed"

# PHP with Laravel, Guzzle and PHPUnit from Debian, for the Laravel package's tests
# (clients/laravel, run by tests/tests/laravel.rs). Sodium, which signs its tokens, is in PHP's core.
if ! command -v php >/dev/null || ! command -v phpunit >/dev/null \
  || [ ! -f /usr/share/php/Illuminate/autoload.php ] || [ ! -f /usr/share/php/GuzzleHttp/autoload.php ] \
  || ! php -r 'exit(extension_loaded("curl") && extension_loaded("mbstring") ? 0 : 1);'; then
  apt_install php-cli php-curl php-mbstring php-xml php-laravel-framework php-guzzlehttp-guzzle phpunit
fi
log "$(php --version | head -n 1 | awk '{print "PHP", $2}') with Laravel and $(phpunit --version | awk '/PHPUnit/ {print "PHPUnit", $2}') is installed"

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

# alertmanager and amtool: `make ops` checks deploy/alertmanager/alertmanager.yml and its routes
# with amtool, and tests/tests/alerts.rs runs alertmanager. Both are taken alone from Debian's
# prometheus-alertmanager package (whose server binary is prometheus-alertmanager), for the same
# reason as promtool: the package would start an Alertmanager on port 9093. Debian's build reads
# its notification templates from /usr/share/prometheus/alertmanager/, so they come along.
templates=/usr/share/prometheus/alertmanager
if ! command -v amtool >/dev/null || ! command -v alertmanager >/dev/null \
  || [ ! -f "$templates/default.tmpl" ]; then
  apt_update_once
  log "installing alertmanager and amtool from Debian's prometheus-alertmanager package"
  unpacked=$(mktemp -d)
  chown _apt "$unpacked" 2>/dev/null || true
  (cd "$unpacked" && apt-get download -qq prometheus-alertmanager >/dev/null \
    && dpkg -x prometheus-alertmanager_*.deb root)
  install -m 0755 "$unpacked/root/usr/bin/amtool" /usr/local/bin/amtool
  install -m 0755 "$unpacked/root/usr/bin/prometheus-alertmanager" /usr/local/bin/alertmanager
  install -d "$templates"
  install -m 0644 "$unpacked/root$templates/"*.tmpl "$templates/"
  rm -rf "$unpacked"
fi
log "alertmanager $(alertmanager --version 2>&1 | head -n 1 | awk '{print $3}') and amtool are installed"
