#!/usr/bin/env bash
# Every alert of deploy/prometheus/alerts.yml reaches both receivers of alertmanager.yml: for each
# rule, `amtool config routes test` with the labels Prometheus sends (its alertname, its severity
# and a company) must resolve to it-portal and it-team-mail. An alert whose severity no route takes
# resolves to the mailbox alone and fails here. Run by `make ops`; needs amtool (`make deps`).
# Usage: deploy/alertmanager/test-routes.sh [ALERTMANAGER_CONFIG] [ALERT_RULES]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${1:-$here/alertmanager.yml}
rules=${2:-$here/../prometheus/alerts.yml}
expected=it-portal,it-team-mail

# "name severity" per rule: `- alert: Name`, then its labels (inline `{severity: x}` or a block).
alerts=$(awk '
  /^[[:space:]]*- alert:/ {
    if (name != "") { print "alert " name " has no severity label" > "/dev/stderr"; bad = 1 }
    name = $3
  }
  name != "" && match($0, /severity:[[:space:]]*"?[A-Za-z0-9_-]+/) {
    severity = substr($0, RSTART, RLENGTH); sub(/severity:[[:space:]]*"?/, "", severity)
    print name, severity; name = ""
  }
  END {
    if (name != "") { print "alert " name " has no severity label" > "/dev/stderr"; bad = 1 }
    exit bad
  }' "$rules")
[ -n "$alerts" ] || { echo "test-routes: no alerts in $rules" >&2; exit 1; }

failed=0
while read -r name severity; do
  labels=(alertname="$name" severity="$severity" company=example)
  status=0
  got=$(amtool config routes test --config.file="$config" --verify.receivers="$expected" \
    "${labels[@]}" 2>/dev/null) || status=$?
  got=${got%%$'\n'*} # the receivers; a warning may follow
  if [ "$status" -eq 0 ]; then
    echo "test-routes: $name ($severity) -> $got"
  else
    echo "test-routes: $name ($severity) -> ${got:-nothing}, expected $expected" >&2
    failed=1
  fi
done <<<"$alerts"
exit "$failed"
