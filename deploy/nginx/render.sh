#!/usr/bin/env bash
# Renders a standalone nginx.conf for Parley nodes behind one nginx, from parley.conf.template beside this script.
# Usage: deploy/nginx/render.sh LISTEN PREFIX NODE... > PREFIX/nginx.conf
#   LISTEN  nginx's listen address, e.g. 127.0.0.1:8080
#   PREFIX  a folder nginx may write (pid, error log, temp files), used with: nginx -p PREFIX -c PREFIX/nginx.conf
#   NODE    host:port of each Parley node
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 LISTEN PREFIX NODE..." >&2
  exit 2
fi
listen=$1
prefix=${2%/}
shift 2

upstreams=""
for node in "$@"; do
  if [[ ! $node =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]]; then
    echo "render.sh: '$node' is not host:port" >&2
    exit 2
  fi
  upstreams+="server $node max_fails=0; "
done

template=$(<"$(dirname "$0")/parley.conf.template")
# The template uses envsubst's ${NAME} form (what the nginx image renders); these are literal patterns.
# shellcheck disable=SC2016
template=${template//'${PARLEY_LISTEN}'/"$listen"}
# shellcheck disable=SC2016
template=${template//'${PARLEY_UPSTREAMS}'/"$upstreams"}

cat <<CONF
# Rendered by deploy/nginx/render.sh for: $*
worker_processes 1;
worker_rlimit_nofile 16384;
error_log $prefix/error.log warn;
pid $prefix/nginx.pid;

events {
    worker_connections 8192;
}

http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;

$template
}
CONF
