#!/usr/bin/env bash
# Docker engine + local registry helpers for FARM tests and .ci/run.
#
# Usage: source ci-docker.sh; start_docker; start_registry "$W/reg" 5000; ...; stop_registry "$W/reg"; stop_docker
#
# - start_docker: starts dockerd only if `docker info` fails, exactly as
#   `dockerd --host unix:///var/run/docker.sock --bridge=none --iptables=false --ip-masq=false`,
#   waits until it answers (max 60 s). Idempotent. Only a daemon started here is stopped by stop_docker.
# - start_registry <dir> <port>: Debian docker-registry on 127.0.0.1:<port> (never all interfaces),
#   storage <dir>/data, htpasswd auth (bcrypt) with $FARM_REGISTRY_USER / $FARM_REGISTRY_PASSWORD
#   (defaults farm-user / farm-pass). Idempotent per <dir>. stop_registry <dir> stops it by its PID.
# Requires: docker.io docker-registry apache2-utils curl (apt-get install -y docker.io docker-registry apache2-utils).

FARM_DOCKERD_PIDFILE="${FARM_DOCKERD_PIDFILE:-/tmp/farm-ci-dockerd.pid}"
FARM_DOCKERD_LOG="${FARM_DOCKERD_LOG:-/tmp/farm-ci-dockerd.log}"

start_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "start_docker: dockerd not found (apt-get install -y docker.io)" >&2
    return 1
  fi
  dockerd --host unix:///var/run/docker.sock --bridge=none --iptables=false --ip-masq=false \
    >"$FARM_DOCKERD_LOG" 2>&1 &
  echo $! >"$FARM_DOCKERD_PIDFILE"
  local i
  for i in $(seq 1 300); do
    if docker info >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$FARM_DOCKERD_PIDFILE")" 2>/dev/null; then
      echo "start_docker: dockerd exited; log: $FARM_DOCKERD_LOG" >&2
      tail -n 20 "$FARM_DOCKERD_LOG" >&2
      rm -f "$FARM_DOCKERD_PIDFILE"
      return 1
    fi
    sleep 0.2
  done
  echo "start_docker: dockerd did not answer within 60 s; log: $FARM_DOCKERD_LOG (attempt $i)" >&2
  return 1
}

stop_docker() {
  [ -f "$FARM_DOCKERD_PIDFILE" ] || return 0
  local pid
  pid="$(cat "$FARM_DOCKERD_PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    local i
    for i in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop_docker: dockerd $pid still running after 30 s (attempt $i)" >&2
      return 1
    fi
  fi
  rm -f "$FARM_DOCKERD_PIDFILE"
}

start_registry() {
  local dir="$1" port="$2"
  if [ -z "$dir" ] || [ -z "$port" ]; then
    echo "usage: start_registry <dir> <port>" >&2
    return 2
  fi
  mkdir -p "$dir/data"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/registry.pid" ] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
    return 0
  fi
  htpasswd -Bbn "${FARM_REGISTRY_USER:-farm-user}" "${FARM_REGISTRY_PASSWORD:-farm-pass}" >"$dir/htpasswd" || return 1
  cat >"$dir/registry.yml" <<EOF
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
auth: { htpasswd: { realm: farm-test, path: $dir/htpasswd } }
EOF
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  local i code
  for i in $(seq 1 200); do
    # With auth on, /v2/ answers 401: that means it is up.
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)"
    if [ "$code" = "401" ] || [ "$code" = "200" ]; then
      return 0
    fi
    if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
      echo "start_registry: registry exited; log: $dir/registry.log" >&2
      tail -n 20 "$dir/registry.log" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "start_registry: no answer on 127.0.0.1:$port after 10 s (attempt $i)" >&2
  return 1
}

stop_registry() {
  local dir="$1"
  [ -f "$dir/registry.pid" ] || return 0
  local pid
  pid="$(cat "$dir/registry.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/registry.pid"
}

# Allow `bash ci-docker.sh start_docker` etc.
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ $# -gt 0 ]; then
  "$@"
fi
