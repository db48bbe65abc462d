#!/usr/bin/env bash
# Real base images for the Docker tests, made locally (no registry can be pulled from here).
#
# farm-base/python:3.11-bookworm — a minimal Debian bookworm root filesystem with python3 (3.11), venv, pip
# and CA certificates, built by mmdebstrap from Debian packages and `docker import`ed. The tests and
# the example's Docker e2e name it in `docker.baseImages.python`.
#
# Idempotent and fast on a machine that already has it: the image carries a label with this
# script's recipe key and is rebuilt only when the key changes; the rootfs tarball is cached in
# ~/.cache/farm-base-images/ (kept between CI runs), so a missing image is re-imported in seconds.
#
# Usage: bash .ci/base-images.sh   (needs a running engine: source .ci/docker.sh; start_docker)
# Requires: mmdebstrap (apt-get install -y mmdebstrap), docker CLI.
set -euo pipefail

PYTHON_TAG="${FARM_PYTHON_BASE_IMAGE:-farm-base/python:3.11-bookworm}"
SUITE=bookworm
PACKAGES=python3,python3-venv,python3-pip,ca-certificates
RECIPE="v1 $SUITE apt $PACKAGES"
KEY="$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)"
CACHE="${FARM_BASE_IMAGE_CACHE:-$HOME/.cache/farm-base-images}"
TARBALL="$CACHE/debian-$SUITE-python3-$KEY.tar"

have="$(docker image inspect -f '{{index .Config.Labels "farm.base-image.key"}}' "$PYTHON_TAG" 2>/dev/null || true)"
if [ "$have" = "$KEY" ]; then
  echo "== base image $PYTHON_TAG is up to date (recipe $KEY)"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  command -v mmdebstrap >/dev/null || {
    echo "base-images.sh: mmdebstrap is missing (apt-get install -y mmdebstrap)" >&2
    exit 1
  }
  mkdir -p "$CACHE"
  echo "== mmdebstrap $SUITE ($PACKAGES) → $TARBALL"
  # The name must end in .tar: mmdebstrap picks the output format from it.
  tmp="$CACHE/.partial-$$.tar"
  trap 'rm -f "$tmp"' EXIT
  # variant apt: Essential packages + apt; docs, man pages and locales are left out.
  mmdebstrap --quiet --variant=apt --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$SUITE" "$tmp"
  mv "$tmp" "$TARBALL"
  trap - EXIT
fi

echo "== docker import $TARBALL as $PYTHON_TAG"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL farm.base-image.key=$KEY" \
  --change 'LABEL farm.base-image.source="mmdebstrap '"$SUITE"' with python3, python3-venv, python3-pip, ca-certificates"' \
  --change 'CMD ["python3"]' \
  "$TARBALL" "$PYTHON_TAG" >/dev/null
docker run --rm --network none "$PYTHON_TAG" python3 -c 'import venv, ensurepip, ssl, sys; print("python", sys.version.split()[0], "ok")'
