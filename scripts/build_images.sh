#!/usr/bin/env bash
# Build the Takos container images offline (no registry needed):
#   takos-base:bookworm   debootstrap minbase (python3, git, ca-certificates) + `docker import`
#   takos-runtime:latest  python3, nodejs, git + the runtime agent (docker/runtime)
#   takos-executor:latest python3 + the agent loop's pip packages (docker/executor)
#   takos-browser:latest  chromium + the CDP entry point (docker/browser)
# Only missing or outdated images are built (label takos.source = hash of docker/<role>/);
# FORCE=1 rebuilds the three role images.
# Usage: scripts/build_images.sh [runtime|executor|browser ...]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE_IMAGE="${TAKOS_BASE_IMAGE:-takos-base:bookworm}"
SUITE="${TAKOS_BASE_SUITE:-bookworm}"
WORK="${TAKOS_IMAGE_WORKDIR:-/tmp/takos-images}"
FORCE="${FORCE:-0}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

mirror() {
    # The machine's Debian mirror: deb822 sources first, then the classic sources.list.
    if [ -n "${TAKOS_DEBIAN_MIRROR:-}" ]; then echo "$TAKOS_DEBIAN_MIRROR"; return; fi
    local m=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        m="$(awk '/^URIs:/ {print $2}' "$f" | grep -v -- '-security' | head -n1 || true)"
        [ -n "$m" ] && break
    done
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list \
             | grep -v -- '-security' | head -n1 || true)"
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
    if have_image "$BASE_IMAGE"; then echo "have $BASE_IMAGE"; return; fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
    fi
    local rootfs="$WORK/rootfs-$SUITE" mirror_url
    mirror_url="$(mirror)"
    echo "debootstrap $SUITE from $mirror_url into $rootfs"
    $SUDO rm -rf "$rootfs"
    mkdir -p "$WORK"
    $SUDO debootstrap --variant=minbase --include=python3,git,ca-certificates "$SUITE" "$rootfs" "$mirror_url"
    # Keep the image small: apt lists and caches are rebuilt by `apt-get update` in the role images.
    $SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    $SUDO tar -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE"
    $SUDO rm -rf "$rootfs"
}

source_hash() {
    # Content hash of docker/<role>/: an image built from other sources is rebuilt.
    (cd "$ROOT/docker/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

build_role() {
    local role="$1" image="takos-$1:latest" hash current
    hash="$(source_hash "$role")"
    current="$(docker image inspect -f '{{ index .Config.Labels "takos.source" }}' "$image" 2>/dev/null || true)"
    if [ "$current" = "$hash" ] && [ "$FORCE" != "1" ]; then echo "have $image ($hash)"; return; fi
    local ctx="$WORK/ctx-$role"
    rm -rf "$ctx" && mkdir -p "$ctx" && cp -a "$ROOT/docker/$role/." "$ctx/"
    if [ "$role" = "executor" ]; then
        # The agent loop's Python dependencies, installed on this machine from its own
        # package index (no registry inside the build) and copied in as a site dir.
        local pip="${TAKOS_PIP:-$ROOT/.venv/bin/pip}"
        [ -x "$pip" ] || pip="pip3"
        "$pip" install --quiet --no-compile --target "$ctx/site" -r "$ROOT/docker/executor/requirements.txt"
    fi
    echo "building $image"
    docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "takos.source=$hash" -t "$image" "$ctx"
    rm -rf "$ctx"
}

roles=("$@")
[ ${#roles[@]} -eq 0 ] && roles=(runtime executor browser)
build_base
for role in "${roles[@]}"; do build_role "$role"; done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^takos-' || true
