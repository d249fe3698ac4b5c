#!/usr/bin/env bash
# Lab ACME CA: pebble with a TLS certificate from a throwaway CA made for this run, validating
# HTTP-01 on <http-port> of whatever <dns-server> resolves names to, and DNS-01 through it.
#   pebble.sh up <dir> <address> <dns-server:port> <http-port>   start pebble, print JSON describing it
#   pebble.sh down <dir>                                          stop the pebble started in <dir>, by its PID
#   pebble.sh deps                                                Debian packages needed
# The ACME directory is https://<address>:14000/dir; the management API (issuing roots) :15000.
set -euo pipefail

usage() { echo "usage: $0 up <dir> <address> <dns-server:port> <http-port> | down <dir> | deps" >&2; exit 2; }
deps() { echo "pebble openssl certbot python3-certbot-dns-rfc2136"; }

up() {
  local dir=$1 address=$2 dns=$3 http_port=$4
  command -v pebble >/dev/null || { echo "pebble is not installed: apt-get install -y --no-install-recommends $(deps)" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -s "$dir/pebble.pid" ] && kill -0 "$(cat "$dir/pebble.pid")" 2>/dev/null; then echo "pebble already runs for $dir" >&2; exit 1; fi
  if ss -Hltn "( sport = :14000 or sport = :15000 )" | grep -q "$address:"; then echo "$address:14000 or :15000 is in use" >&2; exit 1; fi

  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=up lab pebble TLS CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$address" -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$address" > "$dir/ext.cnf"
  openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
  cat > "$dir/pebble-config.json" <<CONF
{ "pebble": { "listenAddress": "$address:14000", "managementListenAddress": "$address:15000",
  "certificate": "$dir/cert.pem", "privateKey": "$dir/key.pem", "httpPort": $http_port, "tlsPort": 5001,
  "ocspResponderURL": "", "externalAccountBindingRequired": false } }
CONF
  # No random validation sleep, no rejected nonces, no authorization reuse: fast and deterministic.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 setsid pebble -config "$dir/pebble-config.json" -dnsserver "$dns" \
    > "$dir/pebble.log" 2>&1 < /dev/null &
  echo $! > "$dir/pebble.pid"
  for _ in $(seq 200); do
    if curl -sf --cacert "$dir/ca.pem" "https://$address:14000/dir" >/dev/null 2>&1 \
      && curl -sf --cacert "$dir/ca.pem" "https://$address:15000/roots/0" -o "$dir/root.pem"; then
      printf '{"directory":"https://%s:14000/dir","caBundle":"%s","root":"%s","pid":%d,"dir":"%s"}\n' \
        "$address" "$dir/ca.pem" "$dir/root.pem" "$(cat "$dir/pebble.pid")" "$dir"
      return 0
    fi
    sleep 0.05
  done
  echo "pebble did not answer on $address:14000 within 10 s; log:" >&2
  tail -n 20 "$dir/pebble.log" >&2 || true
  down "$dir"
  exit 1
}

down() {
  local dir=$1 pid
  [ -s "$dir/pebble.pid" ] || return 0
  pid=$(cat "$dir/pebble.pid")
  # Only ever the pebble we started: a recycled PID belongs to someone else.
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pebble ]; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  rm -f "$dir/pebble.pid"
}

case "${1:-}" in
  up) [ $# -eq 5 ] || usage; up "$2" "$3" "$4" "$5" ;;
  down) [ $# -eq 2 ] || usage; down "$2" ;;
  deps) deps ;;
  *) usage ;;
esac
