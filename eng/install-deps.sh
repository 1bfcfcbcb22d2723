#!/usr/bin/env bash
# Installs, from Debian packages, the real servers the test suite starts: redis-server, rabbitmq-server, nginx,
# PostgreSQL, Chromium. Does nothing for what is already present. Needs root (or sudo) only when something is missing.
# Usage: eng/install-deps.sh            everything the test suite needs
#        eng/install-deps.sh --servers  only what the local cluster (eng/cluster.sh) runs
set -euo pipefail

servers_only=false
[[ ${1:-} == --servers ]] && servers_only=true

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ! $servers_only; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v faketime >/dev/null 2>&1 || need+=(faketime)
  # A listener test reads the accept queue's limit with `ss`.
  command -v ss >/dev/null 2>&1 || need+=(iproute2)
  # The cluster tests validate deploy/docker-compose.yml with `docker compose config` (or Debian's docker-compose).
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    need+=(docker-compose)
  fi
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v node >/dev/null 2>&1 || need+=(nodejs npm)

if ((${#need[@]})); then
  echo "install-deps: installing ${need[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Debian rabbitmq/redis/nginx packages may start system services; the tests use their own private instances.
for svc in rabbitmq-server redis-server nginx; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "install-deps: redis-server $(redis-server --version | awk '{print $3}'), rabbitmq-server, nginx, postgres$($servers_only || echo ", chromium, docker-compose") ready"
