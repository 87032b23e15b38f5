#!/usr/bin/env bash
# Start a local Docker engine for Takos container hosts (dev + CI).
# Idempotent: does nothing when the socket already answers.
# The engine runs without a bridge and without iptables: Takos containers use host
# networking and publish only on 127.0.0.1 (see docs/hosts.md).
set -euo pipefail

SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"
LOG="${DOCKERD_LOG:-/tmp/takos-dockerd.log}"
WAIT="${DOCKERD_WAIT:-60}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

engine_up() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
    echo "docker engine already running on $SOCK"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd missing: installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || true
    $SUDO apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "starting dockerd (log: $LOG)"
    # setsid + nohup: survive the calling shell; no bridge, no iptables (sandboxed hosts).
    $SUDO setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false \
        -H "unix://$SOCK" >"$LOG" 2>&1 < /dev/null &
fi

for _ in $(seq 1 "$WAIT"); do
    if [ -S "$SOCK" ] && engine_up; then
        echo "docker engine up: $(docker -H "unix://$SOCK" version --format '{{.Server.Version}}')"
        exit 0
    fi
    sleep 1
done
echo "docker engine did not come up within ${WAIT}s; see $LOG" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
