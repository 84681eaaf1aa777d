#!/bin/bash
# Writes the default user from RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS into the broker's
# configuration (as the official image does), then runs the broker in the foreground.
set -euo pipefail

conf=/etc/rabbitmq/rabbitmq.conf
{
  echo "listeners.tcp.default = 5672"
  echo "management.tcp.port = 15672"
  echo "loopback_users = none"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
    echo "default_user = $RABBITMQ_DEFAULT_USER"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS goes with RABBITMQ_DEFAULT_USER}"
  fi
} >"$conf"
# The official image's variables must not reach the broker itself, which would warn about them.
unset RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS

exec "$@"
