#!/usr/bin/env bash
# A local Parley cluster from Debian packages: PostgreSQL, RabbitMQ, Redis and nginx on private ports, plus 3 Parley
# nodes (Release build) behind nginx. Everything it starts keeps its state and PID files under .cluster/ (git-ignored).
#
# Usage: eng/cluster.sh up       install what is missing, build, start everything, print the URL
#        eng/cluster.sh down     stop everything `up` started (by recorded PID; data is kept for the next `up`)
#        eng/cluster.sh status   what runs, each node's readiness
# Ports (environment, defaults): PARLEY_CLUSTER_PORT=8080 (nginx), PARLEY_CLUSTER_NODE_PORT=5101 (nodes use it and
# the next two), PARLEY_CLUSTER_PG_PORT=15432, PARLEY_CLUSTER_AMQP_PORT=15673, PARLEY_CLUSTER_REDIS_PORT=16379.
# Wipe all data: eng/cluster.sh down && rm -rf .cluster
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.cluster"
pids="$state/pids"

nginx_port=${PARLEY_CLUSTER_PORT:-8080}
node_port=${PARLEY_CLUSTER_NODE_PORT:-5101}
pg_port=${PARLEY_CLUSTER_PG_PORT:-15432}
amqp_port=${PARLEY_CLUSTER_AMQP_PORT:-15673}
dist_port=$((amqp_port + 10000))
redis_port=${PARLEY_CLUSTER_REDIS_PORT:-16379}
nodes=(node1 node2 node3)
rabbit_node="parley-cluster@localhost"
url="http://127.0.0.1:$nginx_port/"

log() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

# True when the PID recorded for $1 is alive and its command line or environment still contains $2 (a recycled PID
# is not ours).
running() {
  local file="$pids/$1.pid" pid
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  [[ -r /proc/$pid/cmdline ]] && cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' ' ' | grep -qF -- "$2"
}

# Waits up to $2 seconds for the command in $3... to succeed; $1 names what is awaited.
wait_for() {
  local what=$1 seconds=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${seconds}s"
    sleep 0.5
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free() {
  port_free "$1" || die "port $1 ($2) is taken; set ${3} to another port"
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local initdb
  initdb=$(command -v initdb || true)
  if [[ -n $initdb ]]; then dirname "$(readlink -f "$initdb")"; return; fi
  find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1
}

start_postgres() {
  local bin data="$state/pg/data" sock="$state/pg/sock"
  if running postgres "$data"; then log "PostgreSQL already runs"; return; fi
  require_free "$pg_port" PostgreSQL PARLEY_CLUSTER_PG_PORT
  bin=$(pg_bin)
  [[ -x $bin/postgres ]] || die "PostgreSQL binaries not found (apt-get install postgresql)"
  mkdir -p "$sock"
  [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$state/pg"
  if [[ ! -f $data/PG_VERSION ]]; then
    log "initdb $data"
    as_postgres "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >"$state/pg/initdb.log" 2>&1
  fi
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  as_postgres "$bin/pg_ctl" start -D "$data" -l "$state/pg/postgres.log" -w -t 60 \
    -o "-p $pg_port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=300" >/dev/null
  head -1 "$data/postmaster.pid" >"$pids/postgres.pid"
  if [[ -z $(psql -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'parley'") ]]; then
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE parley" >/dev/null
  fi
}

rabbit_env() {
  export RABBITMQ_NODENAME=$rabbit_node RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$amqp_port \
    RABBITMQ_DIST_PORT=$dist_port RABBITMQ_MNESIA_BASE="$state/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$state/rabbitmq/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$state/rabbitmq/enabled_plugins" RABBITMQ_CONFIG_FILE="$state/rabbitmq/rabbitmq.conf" \
    RABBITMQ_PID_FILE="$state/rabbitmq/rabbitmq.pid"
}

start_rabbitmq() {
  local dir="$state/rabbitmq"
  if running rabbitmq "RABBITMQ_NODENAME=$rabbit_node"; then log "RabbitMQ already runs"; return; fi
  require_free "$amqp_port" RabbitMQ PARLEY_CLUSTER_AMQP_PORT
  mkdir -p "$dir/mnesia" "$dir/log"
  echo "[]." >"$dir/enabled_plugins"
  printf 'log.console = false\nlog.file.level = info\ndisk_free_limit.absolute = 50MB\n' >"$dir/rabbitmq.conf"
  # Debian's rabbitmq-server script switches to the rabbitmq user: it must own every folder the broker writes.
  [[ $(id -u) -eq 0 ]] && chown -R rabbitmq:rabbitmq "$dir"
  rabbit_env
  log "starting RabbitMQ on 127.0.0.1:$amqp_port (takes ~20 s)"
  setsid nohup rabbitmq-server >"$dir/server.out" 2>&1 </dev/null &
  echo $! >"$pids/rabbitmq.pid"
  wait_for "RabbitMQ" 90 rabbitmqctl -n "$rabbit_node" -q await_startup
}

start_redis() {
  local dir="$state/redis"
  if running redis ":$redis_port"; then log "Redis already runs"; return; fi
  require_free "$redis_port" Redis PARLEY_CLUSTER_REDIS_PORT
  mkdir -p "$dir"
  log "starting Redis on 127.0.0.1:$redis_port"
  setsid nohup redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$dir" >"$dir/redis.log" 2>&1 </dev/null &
  echo $! >"$pids/redis.pid"
  wait_for "Redis" 15 redis-cli -p "$redis_port" ping
}

build_nodes() {
  log "building Parley.Server (Release) into .cluster/app"
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
    dotnet publish src/Parley.Server -c Release -o "$state/app" --nologo -v q >"$state/build.log" 2>&1 \
    || { tail -30 "$state/build.log" >&2; die "build failed (full log: .cluster/build.log)"; }
}

start_nodes() {
  local i name port key
  [[ -s $state/jwt.key ]] || (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$state/jwt.key")
  key=$(<"$state/jwt.key")
  mkdir -p "$state/nodes"
  for i in "${!nodes[@]}"; do
    name=${nodes[$i]}
    port=$((node_port + i))
    if running "$name" "--Parley:NodeId=$name"; then log "$name already runs"; continue; fi
    require_free "$port" "$name" PARLEY_CLUSTER_NODE_PORT
    log "starting $name on 127.0.0.1:$port"
    # The key travels in the environment, not on the command line, so `ps` does not show it.
    Parley__JwtKey=$key setsid nohup dotnet "$state/app/Parley.Server.dll" --urls "http://127.0.0.1:$port" \
      --Parley:NodeId="$name" --Parley:TrustedProxies:0=127.0.0.1 \
      --Parley:Store=postgres --Parley:Postgres="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=parley" \
      --Parley:Bus=rabbitmq --Parley:RabbitMq="amqp://guest:guest@127.0.0.1:$amqp_port/" \
      --Parley:Presence=redis --Parley:Redis="127.0.0.1:$redis_port" \
      --Logging:LogLevel:Microsoft.AspNetCore=Warning \
      >"$state/nodes/$name.log" 2>&1 </dev/null &
    echo $! >"$pids/$name.pid"
  done
  for i in "${!nodes[@]}"; do
    port=$((node_port + i))
    wait_for "${nodes[$i]} (/readyz; log: .cluster/nodes/${nodes[$i]}.log)" 60 curl -fsS -m 2 "http://127.0.0.1:$port/readyz"
  done
}

start_nginx() {
  local dir="$state/nginx" upstreams=() i
  if running nginx "$dir/nginx.conf"; then log "nginx already runs"; return; fi
  require_free "$nginx_port" nginx PARLEY_CLUSTER_PORT
  mkdir -p "$dir/tmp"
  for i in "${!nodes[@]}"; do upstreams+=("127.0.0.1:$((node_port + i))"); done
  deploy/nginx/render.sh "127.0.0.1:$nginx_port" "$dir" "${upstreams[@]}" >"$dir/nginx.conf"
  log "starting nginx on $url"
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.out" 2>&1 </dev/null &
  echo $! >"$pids/nginx.pid"
  wait_for "nginx" 15 curl -fsS -m 2 "${url}readyz"
}

# Sends $2 to the recorded process $1 (if it is still ours) and waits up to $3 seconds, then SIGKILLs it.
stop_pid() {
  local name=$1 signal=$2 seconds=$3 marker=$4 pid deadline
  if ! running "$name" "$marker"; then rm -f "$pids/$name.pid"; return; fi
  pid=$(<"$pids/$name.pid")
  log "stopping $name (pid $pid)"
  kill "-$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + seconds))
  while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
  if [[ -d /proc/$pid ]]; then
    log "$name did not stop within ${seconds}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pids/$name.pid"
}

up() {
  mkdir -p "$pids"
  eng/install-deps.sh --servers
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK is required (dotnet on PATH)"
  start_postgres
  start_rabbitmq
  start_redis
  build_nodes
  start_nodes
  start_nginx
  log "up: open $url (3 nodes behind nginx; each message shows the node that accepted it)"
  log "logs: .cluster/nodes/*.log; stop with: eng/cluster.sh down"
}

down() {
  local i
  mkdir -p "$pids"
  stop_pid nginx QUIT 10 "$state/nginx/nginx.conf"
  for i in "${!nodes[@]}"; do stop_pid "${nodes[$i]}" TERM 20 "--Parley:NodeId=${nodes[$i]}"; done
  stop_pid redis TERM 10 ":$redis_port"
  if running rabbitmq "RABBITMQ_NODENAME=$rabbit_node"; then
    log "stopping RabbitMQ"
    rabbit_env
    rabbitmqctl -n "$rabbit_node" -q stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
  fi
  stop_pid rabbitmq TERM 30 "RABBITMQ_NODENAME=$rabbit_node"
  if running postgres "$state/pg/data"; then
    log "stopping PostgreSQL"
    as_postgres "$(pg_bin)/pg_ctl" stop -D "$state/pg/data" -m fast -w -t 30 >/dev/null || true
  fi
  stop_pid postgres TERM 10 "$state/pg/data"
  log "down"
}

status() {
  local i port ready any=false
  mkdir -p "$pids"
  check() { if running "$1" "$2"; then echo "  $1: running (pid $(<"$pids/$1.pid"))"; any=true; else echo "  $1: stopped"; fi; }
  echo "cluster state in .cluster/:"
  check postgres "$state/pg/data"
  check rabbitmq "RABBITMQ_NODENAME=$rabbit_node"
  check redis ":$redis_port"
  for i in "${!nodes[@]}"; do
    port=$((node_port + i))
    check "${nodes[$i]}" "--Parley:NodeId=${nodes[$i]}"
    ready=$(curl -sS -m 2 "http://127.0.0.1:$port/readyz" 2>/dev/null || true)
    [[ -n $ready ]] && echo "    readyz: $ready"
  done
  check nginx "$state/nginx/nginx.conf"
  if $any; then echo "URL: $url"; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
