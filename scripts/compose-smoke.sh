#!/usr/bin/env bash
# make compose-smoke: runs the Docker Compose stack (docker-compose.yml with the offline override,
# deploy/compose.offline.yml) on this machine and checks it through its published ports, as a
# user would:
#   - installs what is missing: Docker (Debian's docker.io), the compose and buildx plugins (from
#     Debian trixie, whose binaries run on older systems), debootstrap; starts dockerd when none
#     runs, and stops it again at exit;
#   - builds the release binaries on the host, the Debian base image (debootstrap, once), then
#     every image of the stack (docker compose build);
#   - brings the stack up and waits for every health check, then runs scripts/compose_smoke.py:
#     readiness, Prometheus targets, the fixture directory, basic.csv delivered exactly as
#     expected, sync-service restarted in the middle of a delivery, three sync-service replicas
#     delivering at Bayzat's pace;
#   - always removes the stack and its volumes at exit.
# One line per step; the last is `compose-smoke: ok (N s)`. On a failure it prints the logs of the
# containers involved and exits non-zero.
# Environment: COMPOSE_SMOKE_PORT_BASE (first host port tried, default 28080),
# COMPOSE_SMOKE_KEEP=1 (leave the stack running for a look; `docker compose -p NAME down -v`).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step_started=$started
log() { echo "compose-smoke: $*"; }
# Ends the current step: its name and how long it took.
done_step() {
  local now
  now=$(date +%s)
  log "$* ($((now - step_started)) s)"
  step_started=$now
}
fail() { echo "compose-smoke: FAILED: $*" >&2; exit 1; }

BASE_IMAGE=${BRIDGE_BASE_IMAGE:-attendance-bridge-base:bookworm}
export BRIDGE_BASE_IMAGE=$BASE_IMAGE
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# The offline override builds the bridge's image from this folder (deploy/compose.offline.yml).
IMAGE_CONTEXT=target/image
BINARIES=(config-service import-service sync-service console bayzat-sim bayzat-probe)
PROJECT=bridge-smoke-$$
COMPOSE=(docker compose -p "$PROJECT" -f docker-compose.yml -f deploy/compose.offline.yml)
work=$(mktemp -d /tmp/compose-smoke.XXXXXX)

dockerd_pid=""
stack_up=""
cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && [ -n "$stack_up" ]; then
    show_failing_logs
  fi
  if [ -n "$stack_up" ]; then
    if [ "${COMPOSE_SMOKE_KEEP:-}" = 1 ]; then
      log "left running: ${COMPOSE[*]} down -v"
    else
      "${COMPOSE[@]}" down -v --remove-orphans >"$work/down.log" 2>&1 \
        || { cat "$work/down.log" >&2; status=1; }
    fi
  fi
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The containers that are not running and healthy (all of the bridge's when every one is), with
# the last lines of their logs.
show_failing_logs() {
  echo "compose-smoke: containers:" >&2
  "${COMPOSE[@]}" ps -a >&2 || true
  local failing
  failing=$(docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --format '{{.Label "com.docker.compose.service"}} {{.Status}}' \
    | awk '$2 != "Up" || /unhealthy|starting/ { print $1 }' | sort -u)
  [ -n "$failing" ] || failing="config-service import-service sync-service console bayzat-sim"
  for service in $failing; do
    echo "compose-smoke: logs of $service:" >&2
    "${COMPOSE[@]}" logs --no-color --tail 60 "$service" >&2 || true
  done
}

# --- 1. What is missing -----------------------------------------------------------------------

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$work/apt.log" 2>&1 \
      || { cat "$work/apt.log" >&2; fail "apt-get update"; }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; fail "apt-get install $*"; }
}

# A docker CLI plugin from Debian trixie's package: fetched with an apt configuration of its own
# (the host's sources and package state stay as they are), unpacked, installed for every user.
install_plugin() { # package plugin
  local apt_dir=$work/trixie-apt mirror
  mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(SITE) $(RELEASE)' 'Identifier: Packages' 2>/dev/null \
    | awk '$2 !~ /-/ { print $1; exit }')}
  [ -n "$mirror" ] || fail "set DEBIAN_MIRROR to fetch $1 (no Debian mirror in this host's apt sources)"
  # Fetched as root into this private folder (apt's _apt user may not enter it).
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Acquire::Languages=none
    -o APT::Sandbox::User=root)
  if [ ! -d "$apt_dir/lists" ]; then
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$apt_dir/sources.list"
    apt-get "${opts[@]}" update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; fail "trixie's package lists"; }
  fi
  mkdir -p "$apt_dir/deb" "$apt_dir/root"
  (cd "$apt_dir/deb" && apt-get "${opts[@]}" download -qq "$1" >"$work/apt.log" 2>&1) \
    || { cat "$work/apt.log" >&2; fail "apt-get download $1 (trixie)"; }
  dpkg -x "$apt_dir/deb/$1"_*.deb "$apt_dir/root"
  mkdir -p /usr/local/lib/docker/cli-plugins
  install -m 0755 "$apt_dir/root/usr/libexec/docker/cli-plugins/$2" /usr/local/lib/docker/cli-plugins/
}

command -v cargo >/dev/null || fail "cargo (the Rust toolchain) is required"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
command -v objcopy >/dev/null || missing+=(binutils)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
docker compose version >/dev/null 2>&1 || install_plugin docker-compose docker-compose
docker buildx version >/dev/null 2>&1 || install_plugin docker-buildx docker-buildx
done_step "tools: $(docker --version | cut -d, -f1), compose $(docker compose version --short), buildx $(docker buildx version | awk '{print $2}'), installed: ${missing[*]:-nothing new}"

if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -n 30 "$work/dockerd.log" >&2; fail "dockerd did not start"; }
  done_step "dockerd started (pid $dockerd_pid, stopped at exit)"
else
  done_step "dockerd already running (left as it is)"
fi

# --- 2. Images --------------------------------------------------------------------------------

cargo build --release --bins --quiet || fail "cargo build --release --bins"
mkdir -p "$IMAGE_CONTEXT"
# Their debug information (line tables, for backtraces) compressed: a third of the size.
for binary in "${BINARIES[@]}"; do
  objcopy --compress-debug-sections=zlib "$TARGET_DIR/release/$binary" "$IMAGE_CONTEXT/$binary"
done
done_step "release binaries built ($(du -ch "${BINARIES[@]/#/$IMAGE_CONTEXT/}" | tail -n 1 | cut -f1) for the six in the image)"

deploy/offline/base-image.sh "$BASE_IMAGE" >"$work/base-image.log" 2>&1 \
  || { cat "$work/base-image.log" >&2; fail "the base image"; }
done_step "$(tail -n 1 "$work/base-image.log" | sed 's/^base-image: //')"

# One service per image: the bridge's services share theirs, built once (by config-service).
IMAGES=(attendance-bridge:latest attendance-bridge-postgres:15 attendance-bridge-rabbitmq:3-management attendance-bridge-prometheus:2 attendance-bridge-alertmanager:0)
previous=$(docker image inspect -f '{{.Id}}' "${IMAGES[@]}" 2>/dev/null || true)
"${COMPOSE[@]}" build postgres rabbitmq prometheus alertmanager config-service >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log" >&2; fail "docker compose build"; }
# A rebuild from cache is a new image (a new creation time): drop the one it replaced.
for id in $previous; do
  [ "$(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ] && { docker rmi "$id" >/dev/null 2>&1 || true; }
done
image_size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }'; }
done_step "images built: attendance-bridge $(image_size attendance-bridge:latest), postgres $(image_size attendance-bridge-postgres:15), rabbitmq $(image_size attendance-bridge-rabbitmq:3-management), prometheus $(image_size attendance-bridge-prometheus:2), alertmanager $(image_size attendance-bridge-alertmanager:0)"

# --- 3. The stack -----------------------------------------------------------------------------

# Host ports: a block of free ones, so that a local `make run` or another stack is not in the way.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=${COMPOSE_SMOKE_PORT_BASE:-28080}
for _ in 1 2 3 4 5; do
  ok=1
  for offset in 0 1 2 3 4 5 10 12 18 19; do port_free $((base + offset)) || ok=""; done
  [ -n "$ok" ] && break
  base=$((base + 100))
done
[ -n "$ok" ] || fail "no free block of host ports from ${COMPOSE_SMOKE_PORT_BASE:-28080}"
export CONSOLE_PORT=$base CONFIG_SERVICE_PORT=$((base + 1)) IMPORT_SERVICE_PORT=$((base + 2))
export SYNC_SERVICE_PORTS=$((base + 3))-$((base + 5)) BAYZAT_SIM_PORT=$((base + 10))
export RABBITMQ_MANAGEMENT_PORT=$((base + 12)) PROMETHEUS_PORT=$((base + 19)) ALERTMANAGER_PORT=$((base + 18))

stack_up=1
"${COMPOSE[@]}" up -d --wait --wait-timeout 300 >"$work/up.log" 2>&1 \
  || { cat "$work/up.log" >&2; fail "docker compose up --wait"; }
done_step "stack up and healthy (project $PROJECT, host ports $base-$((base + 19)))"

python3 scripts/compose_smoke.py --project "$PROJECT" --compose "${COMPOSE[*]}" \
  --bin "$TARGET_DIR/release" --fixtures tests/fixtures --portal-key deploy/compose-demo-portal.key \
  --config "http://127.0.0.1:$CONFIG_SERVICE_PORT" --imports "http://127.0.0.1:$IMPORT_SERVICE_PORT" \
  --console "http://127.0.0.1:$CONSOLE_PORT" --sim "http://127.0.0.1:$BAYZAT_SIM_PORT" \
  --prometheus "http://127.0.0.1:$PROMETHEUS_PORT" --alertmanager "http://127.0.0.1:$ALERTMANAGER_PORT" --step-started "$step_started"
step_started=$(date +%s)

# --- 4. Tear down (the trap does the same after a failure) ------------------------------------

if [ "${COMPOSE_SMOKE_KEEP:-}" != 1 ]; then
  "${COMPOSE[@]}" down -v --remove-orphans >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "docker compose down"; }
  stack_up=""
  done_step "stack and volumes removed"
fi
if [ -n "$dockerd_pid" ]; then
  kill "$dockerd_pid"
  wait "$dockerd_pid" || true
  dockerd_pid=""
  done_step "dockerd stopped"
fi
log "ok ($(($(date +%s) - started)) s)"
