#!/usr/bin/env bash
# Lab BIND 9 for DNS tests: one primary zone (example.test) updatable and transferable with the
# TSIG key "up-key", rndc on loopback, no recursion and no notifies (named never talks to anyone).
#   bind.sh up <dir> [address] [port]   start named, print JSON describing it (default 127.0.0.1 5353)
#   bind.sh down <dir>                  stop the named started in <dir>, by its PID
#   bind.sh deps                        Debian packages needed
# RNDC_PORT overrides the control port (default: a random free one).
set -euo pipefail

ZONE=example.test
KEY_NAME=up-key
ALGORITHM=hmac-sha256

usage() { echo "usage: $0 up <dir> [address] [port] | down <dir> | deps" >&2; exit 2; }
deps() { echo "bind9 bind9-dnsutils"; }

port_busy() { # <t|u> <port>
  ss -Hln"$1" "( sport = :$2 )" | grep -q .
}

free_port() {
  local candidate
  for _ in $(seq 50); do
    candidate=$((20000 + RANDOM % 40000))
    port_busy t "$candidate" || { echo "$candidate"; return 0; }
  done
  echo "no free TCP port found for rndc" >&2
  return 1
}

up() {
  local dir=$1 address=${2:-127.0.0.1} port=${3:-5353}
  command -v named >/dev/null || { echo "named is not installed: apt-get install -y --no-install-recommends $(deps)" >&2; exit 1; }
  mkdir -p "$dir/zones"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/named.pid" ] && kill -0 "$(cat "$dir/named.pid")" 2>/dev/null; then
    echo "named is already running for $dir (pid $(cat "$dir/named.pid"))" >&2; exit 1
  fi
  # named keeps running when it cannot bind, and whatever owns the port would then answer our checks.
  if port_busy t "$port" || port_busy u "$port"; then echo "port $port is already in use" >&2; exit 1; fi
  local rndc_port=${RNDC_PORT:-$(free_port)}

  tsig-keygen -a "$ALGORITHM" "$KEY_NAME" > "$dir/$KEY_NAME.conf"
  (umask 077; sed -n 's/.*secret "\(.*\)";.*/\1/p' "$dir/$KEY_NAME.conf" | tr -d '\n' > "$dir/$KEY_NAME.secret")
  chmod 600 "$dir/$KEY_NAME.conf" "$dir/$KEY_NAME.secret"
  rndc-confgen -a -c "$dir/rndc.key" -k rndc-key >/dev/null 2>&1

  cat > "$dir/rndc.conf" <<CONF
include "$dir/rndc.key";
options { default-key "rndc-key"; default-server 127.0.0.1; default-port $rndc_port; };
CONF

  cat > "$dir/named.conf" <<CONF
include "$dir/$KEY_NAME.conf";
include "$dir/rndc.key";
controls { inet 127.0.0.1 port $rndc_port allow { 127.0.0.1; } keys { "rndc-key"; }; };
options {
  directory "$dir";
  pid-file "$dir/named.pid";
  session-keyfile "$dir/session.key";
  managed-keys-directory "$dir";
  listen-on port $port { $address; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify no;
  allow-transfer { key $KEY_NAME; };
  allow-new-zones yes;
};
logging {
  channel file { file "$dir/named.log" versions 2 size 5m; print-time yes; severity info; };
  category default { file; };
  category update { file; };
  category xfer-out { file; };
};
zone "$ZONE" { type primary; file "$dir/zones/$ZONE.zone"; allow-update { key $KEY_NAME; }; };
CONF

  cat > "$dir/zones/$ZONE.zone" <<ZONEFILE
\$TTL 60
@    IN SOA ns1.$ZONE. hostmaster.$ZONE. ( 1 3600 600 86400 60 )
     IN NS  ns1.$ZONE.
     IN A   $address
ns1  IN A   $address
ZONEFILE

  named-checkconf "$dir/named.conf"
  named -4 -u root -c "$dir/named.conf"

  local pid=""
  for _ in $(seq 200); do
    if [ -z "$pid" ] && [ -s "$dir/named.pid" ]; then pid=$(cat "$dir/named.pid"); fi
    if [ -n "$pid" ] && dig +short +norecurse +time=1 +tries=1 -p "$port" "@$address" "$ZONE" SOA 2>/dev/null | grep -q .; then
      printf '{"address":"%s","port":%d,"zone":"%s","keyName":"%s","algorithm":"%s","secretFile":"%s","rndcConf":"%s","rndcPort":%d,"dir":"%s","pid":%d}\n' \
        "$address" "$port" "$ZONE" "$KEY_NAME" "$ALGORITHM" "$dir/$KEY_NAME.secret" "$dir/rndc.conf" "$rndc_port" "$dir" "$pid"
      return 0
    fi
    sleep 0.05
  done
  echo "named did not answer on $address:$port within 10 s; log:" >&2
  tail -n 20 "$dir/named.log" >&2 2>/dev/null || true
  down "$dir"
  exit 1
}

down() {
  local dir=$1 pid
  [ -s "$dir/named.pid" ] || return 0
  pid=$(cat "$dir/named.pid")
  # Only ever the named we started: a recycled PID belongs to someone else.
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = named ]; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  rm -f "$dir/named.pid"
}

case "${1:-}" in
  up) [ $# -ge 2 ] || usage; up "$2" "${3:-}" "${4:-}" ;;
  down) [ $# -eq 2 ] || usage; down "$2" ;;
  deps) deps ;;
  *) usage ;;
esac
