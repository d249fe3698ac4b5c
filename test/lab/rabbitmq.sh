#!/usr/bin/env bash
# A private RabbitMQ node for fault injection: its own node name, ports, data and cookie, all in <dir>,
# so that stopping or killing it disturbs nobody (the machine's shared broker on :5672 is never touched).
#   rabbitmq.sh up <dir>      start the node of <dir> (made on first use; the same name, ports and data
#                             afterwards), wait until it accepts AMQP, print JSON describing it
#   rabbitmq.sh stop <dir>    graceful stop (SIGTERM to the Erlang VM: init:stop, as `rabbitmqctl stop`)
#   rabbitmq.sh kill <dir>    kill -9 of every process the node runs
#   rabbitmq.sh ctl <dir> …   rabbitmqctl against the node (its cookie, its name)
#   rabbitmq.sh down <dir>    kill it and remove <dir>
#   rabbitmq.sh deps          Debian packages needed
# Names and ports are random per <dir> (node up-test-<hex>@localhost, AMQP and distribution ports free
# when made), so several can run at once and none needs the lab lock. Only loopback is used; the
# management plugin is off. epmd is the machine's (started on 127.0.0.1 if none runs).
set -euo pipefail

usage() { echo "usage: $0 up|stop|kill|down <dir> | ctl <dir> <rabbitmqctl args…> | deps" >&2; exit 2; }
deps() { echo "rabbitmq-server"; }
RMQ=/usr/lib/rabbitmq/bin

free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    if [ -z "$(ss -Hltn "sport = :$port")" ] && [ -z "$(ss -Hltn "sport = :$((port + 10000))")" ]; then echo "$port"; return 0; fi
  done
  echo "no free port found" >&2; exit 1
}

# Loads the node's name and ports, and the environment it runs in: every variable the scripts read
# is set, so that /etc/rabbitmq (the shared node's configuration) is never read.
load() {
  local dir=$1
  # shellcheck disable=SC1091
  . "$dir/node.env"
  ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir" LANG=C.UTF-8
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT" RABBITMQ_DIST_PORT="$DIST_PORT"
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
}

make_node() {
  local dir=$1 port
  mkdir -p "$dir/mnesia" "$dir/log"
  port=$(free_port)
  printf 'NODE=up-test-%s@localhost\nPORT=%s\nDIST_PORT=%s\n' "$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$port" "$((port + 10000))" > "$dir/node.env"
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/.erlang.cookie"
  chmod 400 "$dir/.erlang.cookie"
  : > "$dir/rabbitmq-env.conf"
  echo '[].' > "$dir/enabled_plugins"
  echo '[].' > "$dir/advanced.config"
  # guest/guest from loopback only.
  . "$dir/node.env"
  cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
loopback_users.guest = true
log.file.level = info
CONF
}

session_alive() { [ -s "$1/node.pid" ] && kill -0 -- "-$(cat "$1/node.pid")" 2>/dev/null; }
# The launcher itself: right after the launch its session may not exist yet (setsid runs in the child).
launcher_alive() { [ -s "$1/node.pid" ] && kill -0 "$(cat "$1/node.pid")" 2>/dev/null; }

up() {
  local dir=$1
  command -v "$RMQ/rabbitmq-server" >/dev/null || { echo "rabbitmq-server is not installed: apt-get install -y --no-install-recommends $(deps)" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/node.env" ] || make_node "$dir"
  if session_alive "$dir"; then echo "the node of $dir already runs" >&2; exit 1; fi
  load "$dir"
  if [ -n "$(ss -Hltn "sport = :$PORT")" ]; then echo "127.0.0.1:$PORT is in use" >&2; exit 1; fi
  # Its own session: kill -9 reaches the VM and its helpers (erl_child_setup, inet_gethost) at once.
  "${ENV[@]}" setsid "$RMQ/rabbitmq-server" >> "$dir/server.log" 2>&1 < /dev/null &
  echo $! > "$dir/node.pid"
  for _ in $(seq 600); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      printf '{"node":"%s","port":%d,"distPort":%d,"url":"amqp://guest:guest@127.0.0.1:%d","pid":%d,"dir":"%s"}\n' \
        "$NODE" "$PORT" "$DIST_PORT" "$PORT" "$(cat "$dir/node.pid")" "$dir"
      return 0
    fi
    if ! launcher_alive "$dir"; then echo "the node of $dir exited while starting:" >&2; tail -20 "$dir/server.log" >&2; exit 1; fi
    sleep 0.1
  done
  echo "the node of $dir did not accept AMQP within 60 s:" >&2; tail -20 "$dir/server.log" >&2; exit 1
}

wait_gone() {
  local dir=$1
  for _ in $(seq 600); do session_alive "$dir" || { rm -f "$dir/node.pid"; return 0; }; sleep 0.05; done
  echo "the node of $dir is still running" >&2; exit 1
}

stop() {
  local dir=$1 beam
  session_alive "$dir" || return 0
  beam=$(pgrep -s "$(cat "$dir/node.pid")" -x beam.smp || true)
  if [ -n "$beam" ]; then kill -TERM "$beam"; else kill -TERM -- "-$(cat "$dir/node.pid")"; fi
  wait_gone "$dir"
}

kill9() {
  local dir=$1
  session_alive "$dir" || return 0
  kill -KILL -- "-$(cat "$dir/node.pid")"
  wait_gone "$dir"
}

ctl() {
  local dir=$1
  shift
  load "$dir"
  "${ENV[@]}" "$RMQ/rabbitmqctl" -q -n "$NODE" "$@"
}

down() {
  local dir=$1
  [ -d "$dir" ] || return 0
  kill9 "$dir"
  rm -rf "$dir"
}

[ $# -ge 1 ] || usage
case $1 in
  up | stop | kill | down) [ $# -eq 2 ] || usage ;;
  ctl) [ $# -ge 3 ] || usage ;;
  deps) deps; exit 0 ;;
  *) usage ;;
esac
command=$1
shift
case $command in
  kill) kill9 "$@" ;;
  *) "$command" "$@" ;;
esac
