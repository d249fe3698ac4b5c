#!/bin/sh
# Lab target hosts for integration tests: N network namespaces on a private bridge, each
# running its own sshd on port 22 of its address, reachable from the root namespace only.
#
#   hosts.sh up <N> [prefix]   create/start hosts <prefix>-h1..hN, print their JSON description
#   hosts.sh down [prefix]     kill every process in the namespaces, delete namespaces and bridge
#   hosts.sh deps              print the Debian packages this script needs (it installs nothing)
#
# Environment (defaults): UP_LAB_SUBNET=10.77.0 (a /24), UP_LAB_BRIDGE=uplab0, UP_LAB_PRIVATE=""
# (absolute paths each host gets a private copy of, e.g. "/etc/postgresql /var/lib/postgresql":
# daemons whose state lives at fixed paths then run once per host, as on separate machines).
# Two labs that run at the same time need different prefixes, subnets and bridges.
# Namespaces share the filesystem except /root and /run/lock (private per host); each host also
# gets its own directory /srv/<prefix>/<ns>/ for markers.
set -eu
# 'local' is not POSIX but dash, bash and busybox sh all have it.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
SUBNET=${UP_LAB_SUBNET:-10.77.0}
BRIDGE=${UP_LAB_BRIDGE:-uplab0}
PRIVATE=${UP_LAB_PRIVATE:-}

usage() { echo "usage: $0 up <N> [prefix] | down [prefix] | deps" >&2; exit 2; }

valid_prefix() {
  case $1 in
    ''|*[!a-z0-9-]*|-*) echo "invalid prefix: $1 (want [a-z0-9-]+)" >&2; exit 2 ;;
  esac
}

# sshd refuses keys in paths with group/world-writable parents (StrictModes), so not /tmp.
lab_dir() { echo "/srv/$1"; }

# The host's copy of each UP_LAB_PRIVATE path, made once from the machine's (so the packages'
# files are there), and the mounts that put them in place: "copy path copy path ...".
# Runtime state (/run/...) starts empty, as after a boot, in a directory of the machine's owner
# and mode: a copy would be another host's live state (sockets, lock and pid files), and
# /run/netns holds the namespaces' nsfs files, which cp cannot read.
private_mounts() { # dir
  local dir=$1 path copy mounts=''
  for path in $PRIVATE; do
    case $path in /*) ;; *) echo "UP_LAB_PRIVATE: $path is not absolute" >&2; exit 2 ;; esac
    copy="$dir/private$path"
    if [ ! -d "$copy" ]; then
      install -d -m 755 "$copy"
      if [ -d "$path" ]; then
        case $path in
          # Owned and moded as the machine's (postgres' socket directory, say), but empty.
          /run/*) chown --reference="$path" "$copy" && chmod --reference="$path" "$copy" ;;
          # Without pid files: the PID namespace is the machine's, so a copied one (PostgreSQL's
          # postmaster.pid) would point the lab host's tools at the machine's own daemon.
          *) cp -a "$path/." "$copy/" && find "$copy" -name '*.pid' -type f -delete ;;
        esac
      fi
    fi
    mounts="$mounts $copy $path"
  done
  echo "$mounts"
}

host_up() { # prefix index
  local prefix=$1 i=$2 ns addr veth dir private
  ns="$prefix-h$i"
  addr="$SUBNET.$((10 + i))"
  veth="${BRIDGE}v$i"
  dir="$(lab_dir "$prefix")/$ns"
  install -d -m 755 "$dir"

  if ! ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?"; then
    ip netns add "$ns"
  fi
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE" up
    ip netns exec "$ns" ip addr add "$addr/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
  fi
  # No default route inside a namespace, ever: nothing may leave the lab subnet.
  install -d -m 755 "/etc/netns/$ns"
  echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf"

  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$ns" -f "$dir/host_ed25519"
  cat > "$dir/sshd_config" <<EOF
Port 22
ListenAddress $addr
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $(lab_dir "$prefix")/keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
MaxSessions 10
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
  if ! { [ -f "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; }; then
    /usr/sbin/sshd -t -f "$dir/sshd_config"
    # `ip netns exec` runs in a mount namespace of its own; in it the host gets a private, empty
    # /root (this machine's root dotfiles would run before every command, since bash sources
    # ~/.bashrc for ssh commands) and a private /run/lock (so host-side locks are per host).
    # The UP_LAB_PRIVATE paths are mounted the same way, shared as systemd makes every mount on a
    # real host: podman's exit cleanup unmounts a container's shm there, and on a private mount
    # that unmount did not reach podman's view, so half the removals failed "device busy".
    install -d -m 700 "$dir/root"
    install -d -m 1777 "$dir/lock"
    # Assigned first: a failure inside $(...) among a command's arguments would go unnoticed
    # and the host would come up silently sharing the machine's state.
    private=$(private_mounts "$dir")
    # shellcheck disable=SC2046 # the copy/path pairs are split on purpose
    # `ip netns exec` also mounts a fresh /sys, which hides the cgroup hierarchies: they are mounted
    # again as the machine has them (PID 1's mountinfo), so container runtimes find their cgroups.
    ip netns exec "$ns" sh -c 'sshd_config=$1 log=$2; shift 2
      while [ $# -ge 2 ]; do install -d "$2" && mount --bind "$1" "$2" && mount --make-rshared "$2" || exit 1; shift 2; done
      awk '\''{ for (i = 7; $i != "-"; i++); if ($(i+1) ~ /^cgroup2?$/) print $(i+1), $(i+3), $5 }'\'' /proc/1/mountinfo |
        while read -r type options path; do
          [ "$path" != /sys/fs/cgroup ] || continue
          [ -d /sys/fs/cgroup ] && ! mountpoint -q /sys/fs/cgroup && mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
          install -d "$path" && mount -t "$type" -o "$options" "$type" "$path"
        done
      exec /usr/sbin/sshd -f "$sshd_config" -E "$log"' \
      sh "$dir/sshd_config" "$dir/sshd.log" "$dir/root" /root "$dir/lock" /run/lock $private
  fi
}

host_json() { # prefix index
  local prefix=$1 i=$2 ns dir fp
  ns="$prefix-h$i"
  dir="$(lab_dir "$prefix")/$ns"
  fp=$(ssh-keygen -lf "$dir/host_ed25519.pub" | awk '{print $2}')
  printf '{"name":"%s","namespace":"%s","address":"%s","port":22,"user":"root","hostKeySha256":"%s","privateKeyFile":"%s","dir":"%s","logFile":"%s","pidFile":"%s"}' \
    "$ns" "$ns" "$SUBNET.$((10 + i))" "$fp" "$(lab_dir "$prefix")/client_ed25519" "$dir" "$dir/sshd.log" "$dir/sshd.pid"
}

wait_listening() { # prefix index
  local ns="$1-h$2" addr="$SUBNET.$((10 + $2))" tries=0
  until ip netns exec "$ns" ss -Hltn "src $addr:22" | grep -q .; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { echo "sshd in $ns did not start; see $(lab_dir "$1")/$ns/sshd.log" >&2; exit 1; }
    sleep 0.05
  done
}

lab_up() { # N prefix
  local n=$1 prefix=$2 lab i
  case $n in ''|*[!0-9]*) usage ;; esac
  [ "$n" -ge 1 ] && [ "$n" -le 200 ] || usage
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    if ip -o addr | grep -q " inet $SUBNET\."; then
      echo "subnet $SUBNET.0/24 is already in use; set UP_LAB_SUBNET" >&2; exit 1
    fi
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  lab=$(lab_dir "$prefix")
  install -d -m 755 "$lab" "$lab/keys" /run/sshd
  [ -f "$lab/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$prefix-client" -f "$lab/client_ed25519"
  install -m 644 "$lab/client_ed25519.pub" "$lab/keys/root"

  i=1
  while [ $i -le "$n" ]; do host_up "$prefix" $i; i=$((i + 1)); done
  i=1
  while [ $i -le "$n" ]; do wait_listening "$prefix" $i; i=$((i + 1)); done

  printf '['
  i=1
  while [ $i -le "$n" ]; do
    [ $i -eq 1 ] || printf ','
    host_json "$prefix" $i
    i=$((i + 1))
  done
  printf ']\n'
}

lab_down() { # prefix
  local prefix=$1 ns pids veth
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-h[0-9]*\$" || true); do
    # Every process in the namespace is ours (sshd and its sessions): kill them by PID.
    pids=$(ip netns pids "$ns" || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns"
    rm -rf "/etc/netns/$ns"
  done
  # veth peers vanish asynchronously after their namespace is deleted; remove any left.
  for veth in $(ip -o link show type veth | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^${BRIDGE}v[0-9]*\$" || true); do
    ip link del "$veth" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  rm -rf "$(lab_dir "$prefix")"
}

with_lock() { # prefix, then the command: concurrent up/down of one lab must not interleave
  local lockfile
  install -d -m 755 /run/lock
  lockfile="/run/lock/$1-hosts.lock"
  shift
  exec 9>"$lockfile"
  flock -w 120 9
  "$@"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  deps) echo "openssh-server openssh-client iproute2 util-linux" ;;
  up)
    [ $# -ge 1 ] || usage
    prefix=${2:-up-lab}; valid_prefix "$prefix"
    [ "$(id -u)" -eq 0 ] || { echo "hosts.sh must run as root" >&2; exit 1; }
    with_lock "$prefix" lab_up "$1" "$prefix" ;;
  down)
    prefix=${1:-up-lab}; valid_prefix "$prefix"
    [ "$(id -u)" -eq 0 ] || { echo "hosts.sh must run as root" >&2; exit 1; }
    with_lock "$prefix" lab_down "$prefix" ;;
  *) usage ;;
esac
