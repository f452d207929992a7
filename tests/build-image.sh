#!/usr/bin/env bash
# Build a Debian bookworm image without a registry: debootstrap into a folder,
# then `docker import` it. Does nothing when the image already exists.
#
#   tests/build-image.sh NAME [PACKAGE,PACKAGE,...]
#
# The test suite uses `tests/build-image.sh tether-test:bookworm-git git`. Without a
# registry, a sandbox image like tether's default one (bash, coreutils, git,
# python3) is `tests/build-image.sh tether-sandbox:bookworm git,python3`.
set -euo pipefail
name=${1:?usage: build-image.sh NAME [PACKAGES]}
packages=${2:-}
mirror=${TETHER_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$name" >/dev/null 2>&1; then
  exit 0
fi
root=$(mktemp -d /tmp/tether-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
include=()
[[ -n $packages ]] && include=(--include="$packages")
echo "building $name with debootstrap (about 30 s)..." >&2
debootstrap --variant=minbase "${include[@]}" bookworm "$root" "$mirror" >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
echo "built $name" >&2
