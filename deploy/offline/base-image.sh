#!/usr/bin/env bash
# Makes the Debian bookworm base image the offline images build on, without a registry:
# debootstrap (minbase) from the Debian mirror, then `docker import`. Does nothing when the image
# already exists. Usage: deploy/offline/base-image.sh [IMAGE]   (default attendance-bridge-base:bookworm)
# DEBIAN_MIRROR overrides the mirror, which is otherwise the one this host's apt uses.
set -euo pipefail

IMAGE=${1:-attendance-bridge-base:bookworm}
SUITE=bookworm

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base-image: $IMAGE exists"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is required (apt-get install debootstrap)" >&2; exit 1; }

# The host's Debian mirror: the site of its first plain suite (not -updates, not -security).
mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(SITE) $(RELEASE)' 'Identifier: Packages' 2>/dev/null \
  | awk '$2 !~ /-/ { print $1; exit }')}
[ -n "$mirror" ] || { echo "base-image: set DEBIAN_MIRROR (no Debian mirror in this host's apt sources)" >&2; exit 1; }

rootfs=$(mktemp -d /var/tmp/base-image.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "base-image: debootstrap $SUITE from $mirror"
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -n 20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb ${mirror%/}-security $SUITE-security main
SOURCES
# As in Debian's official container images: packages never start services during a build, apt
# keeps no downloaded .deb files and fetches no translations.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log

tar --numeric-owner -C "$rootfs" -c . \
  | docker import --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE" >/dev/null
echo "base-image: $IMAGE made ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
