#!/bin/sh
# An nginx per lab host, inside the host's network namespace, with its own prefix directory
# (config, vhosts, logs, pid, temp paths), in the layout up's proxy.apply writes.
#
#   nginx.sh up <namespace> <dir> <port>   start nginx (a bootstrap config: default server 404) unless running; prints its PID
#   nginx.sh down <dir>                    stop the nginx whose PID is in <dir>/nginx.pid (and wait for it)
#   nginx.sh deps                          print the Debian packages this script needs
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin

usage() { echo "usage: $0 up <namespace> <dir> <port> | down <dir> | deps" >&2; exit 2; }

running() { [ -f "$1/nginx.pid" ] && kill -0 "$(cat "$1/nginx.pid")" 2>/dev/null; }

up() { # namespace dir port
  ns=$1 dir=$2 port=$3
  case $dir in /*) ;; *) echo "dir must be absolute" >&2; exit 2 ;; esac
  case $port in ''|*[!0-9]*) usage ;; esac
  install -d -m 0755 "$dir" "$dir/www" "$dir/acme" "$dir/logs"
  install -d -m 0700 "$dir/vhosts" "$dir/state" "$dir/tmp"
  if [ ! -f "$dir/nginx.conf" ]; then
    cat > "$dir/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 512; }
http {
  include /etc/nginx/mime.types; default_type application/octet-stream; access_log $dir/logs/access.log;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  server { listen $port default_server; server_name _; location / { default_type text/plain; return 404 "no such site\n"; } }
  include $dir/vhosts/*.conf;
}
CONF
  fi
  if ! running "$dir"; then
    ip netns exec "$ns" nginx -e "$dir/logs/error.log" -c "$dir/nginx.conf"
  fi
  cat "$dir/nginx.pid"
}

down() { # dir
  dir=$1
  running "$dir" || exit 0
  pid=$(cat "$dir/nginx.pid")
  kill -QUIT "$pid"
  tries=0
  while kill -0 "$pid" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { kill -KILL "$pid" 2>/dev/null || true; break; }
    sleep 0.05
  done
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  deps) echo "nginx" ;;
  up) [ $# -eq 3 ] || usage; up "$@" ;;
  down) [ $# -eq 1 ] || usage; down "$1" ;;
  *) usage ;;
esac
