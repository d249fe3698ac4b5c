/**
 * The podman commands of the containers domain, built from a validated spec: every value is
 * one quoted word (lib/exec), every container runs in its tenant's id range and network, with
 * capabilities dropped and limits set, and is labelled so `up` can tell its own from others.
 */
import { createHash } from 'node:crypto';
import { script, sh, type Command } from '../../lib/exec/index.ts';
import { podmanSecretName } from '../../lib/validate/secrets.ts';
import type { ContainerSpec } from '../../queues/containers/ops.ts';

/** Per-container generation files: kept after a delete, so a late older message cannot bring it back. */
export const STATE_DIR = '/var/lib/up/containers';
export const generationFile = (id: string) => `${STATE_DIR}/${id}.generation`;

/** What every tenant container may do as root inside its namespace; everything else is dropped. */
export const DEFAULT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'NET_BIND_SERVICE', 'SETGID', 'SETUID'];
export const LABEL_MANAGED = 'up.managed';
const LOG_MAX = '10mb';
/** Every id of the tenant's range: root in the container is `subidStart` on the host. */
const RANGE = 65536;

/**
 * The spec's fingerprint, without what does not need a new container (its generation, whether
 * it should run): a container whose label matches is left as it is.
 */
export function specHash(spec: ContainerSpec): string {
  const { generation: _g, running: _r, secrets, ...rest } = spec;
  // A secret counts by name, use and digest (a new value is a new container), not by its sealed
  // text; a spec without secrets hashes as before secrets existed.
  const defining = secrets?.length ? { ...rest, secrets: secrets.map(({ sealed: _s, owner: _o, ...use }) => use) } : rest;
  return createHash('sha256').update(canonicalJson(defining)).digest('hex').slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The tenant's network: isolated from every other isolated network on the host (netavark's rules), DNS by container name. */
export function ensureNetwork(tenant: ContainerSpec['tenant']): Command {
  return sh`podman network exists ${tenant.network} || podman network create --opt isolate=true --label ${`${LABEL_MANAGED}=true`} --label ${`up.owner=${tenant.name}`} ${tenant.network} >/dev/null`;
}

export function ensureVolumes(spec: ContainerSpec): Command[] {
  return spec.volumes.map(
    (v) =>
      sh`podman volume exists ${v.volume} || podman volume create --label ${`${LABEL_MANAGED}=true`} --label ${`up.owner=${spec.tenant.name}`} ${v.volume} >/dev/null`,
  );
}

/**
 * Removes every port-forwarding rule for the spec's host ports from netavark's per-network
 * chains. netavark (1.4, iptables) leaves a removed container's DNAT rules in its network's
 * chain while other containers remain on that network; when `up` hands the port to a new
 * container, the stale rule matches first and connections go to an address nobody has. The
 * ports are this container's alone (allocated per host), and it is not running here: any
 * rule for them is stale, and the start that follows adds the right ones.
 */
export function clearStaleForwards(spec: ContainerSpec): Command[] {
  if (spec.ports.length === 0) return [];
  const ports = spec.ports.map((p) => String(p.host)).join('|');
  return [
    sh`if command -v iptables >/dev/null 2>&1; then`,
    sh`  for chain in $(iptables -w -t nat -S | awk '$1 == "-N" && $2 ~ /^NETAVARK-DN-/ { print $2 }'); do`,
    sh`    iptables -w -t nat -S "$chain" | grep -E -- ${`--dport (${ports})( |$)`} | sed 's/^-A /-D /' | while read -r rule; do (set -f; iptables -w -t nat $rule); done`,
    sh`  done`,
    sh`fi`,
  ];
}

/**
 * After a start: the host forgets what it knew of the container's addresses. IPAM hands a
 * removed container's address to the next one, and what the host remembers of the old one
 * sends the new one's traffic nowhere: a neighbour entry with the old MAC (seconds of hanging
 * connections), and connection-tracking entries of the old flows (a new flow whose reply tuple
 * matches one of them is dropped until it expires, minutes later). `conntrack` may be missing on
 * a host prepared before it was a package of the role: then only the neighbours go.
 */
export const forgetNeighbours = (key: string) =>
  sh`for a in $(podman container inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' ${key} 2>/dev/null); do ip neigh flush to "$a" 2>/dev/null || true; if command -v conntrack >/dev/null 2>&1; then conntrack -D --reply-src "$a" >/dev/null 2>&1 || true; fi; done`;

/**
 * A Linux bridge without an address of its own takes the lowest of its ports' MAC addresses, so
 * it changes when a container's veth leaves (a replica stops or is removed). The containers that
 * stay still send to their gateway's old MAC, which nobody has any more: every reply is lost
 * until their neighbour entry expires (connections hang for seconds to minutes). Once the
 * bridge's address is set explicitly (addr_assign_type 3), the kernel keeps it: this pins the
 * one it has, after every start (netavark makes the bridge again when a network's first
 * container starts).
 */
export const pinBridgeAddress = (tenant: ContainerSpec['tenant']) =>
  sh`br=$(podman network inspect --format '{{.NetworkInterface}}' ${tenant.network} 2>/dev/null); if [ -n "$br" ] && [ -e "/sys/class/net/$br" ] && [ "$(cat "/sys/class/net/$br/addr_assign_type")" != 3 ]; then ip link set dev "$br" address "$(cat "/sys/class/net/$br/address")"; fi`;

/** What follows every start of a container: its address's old flows forgotten, its bridge's address pinned. */
export const afterStart = (spec: Pick<ContainerSpec, 'key' | 'tenant'>) =>
  script(forgetNeighbours(spec.key), pinBridgeAddress(spec.tenant));

/** Held while a tenant's network on the host is created, used by a new container, or removed with its last one. */
export const networkLock = (tenant: ContainerSpec['tenant']) => `network-${tenant.network}`;

/** What runs instead of the image's entrypoint (handlers/containers/secrets.ts envWrapper), and its arguments. */
export interface EntryOverride {
  entrypoint: Command;
  args: string[];
}

/**
 * `podman create` of the spec, or `podman run -d` when it is to run (one process where create
 * and start are two): nothing the tenant says can become an option (the command comes after the
 * image). Its secrets are mounted read-only at /run/secrets/<name>.
 */
export function createCommand(spec: ContainerSpec, entry: EntryOverride | null = null): Command {
  const { tenant, limits } = spec;
  const map = `0:${tenant.subidStart}:${RANGE}`;
  const restart = spec.restart === 'on-failure' ? 'on-failure:5' : spec.restart;
  const options = [
    sh`--name ${spec.key} --hostname ${spec.name} --network ${tenant.network} --network-alias ${spec.name}`,
    sh`--uidmap ${map} --gidmap ${map}`,
    sh`--init --cap-drop all --cap-add ${DEFAULT_CAPABILITIES.join(',')} --security-opt no-new-privileges`,
    sh`--memory ${`${limits.memoryMb}m`} --memory-swap ${`${limits.memoryMb}m`} --cpus ${limits.cpus} --pids-limit ${limits.pids}`,
    sh`--restart ${restart} --log-driver k8s-file --log-opt ${`max-size=${LOG_MAX}`}`,
    sh`--label ${`${LABEL_MANAGED}=true`} --label ${`up.id=${spec.id}`} --label ${`up.owner=${tenant.name}`} --label ${`up.spec=${specHash(spec)}`}`,
    ...spec.ports.map((p) => sh`--publish ${`${p.address}:${p.host}:${p.container}/tcp`}`),
    ...spec.volumes.map((v) => sh`--volume ${`${v.volume}:${v.target}${v.readOnly ? ':ro' : ''}`}`),
    ...Object.entries(spec.env).map(([k, v]) => sh`--env ${`${k}=${v}`}`),
    ...(spec.secrets ?? []).map((s) => sh`--secret ${`${podmanSecretName(spec.tenant.name, s.name)},type=mount,target=${s.name}`}`),
    ...(entry ? [entry.entrypoint] : []),
    ...(spec.healthcheck
      ? [
          sh`--health-cmd ${JSON.stringify(spec.healthcheck.command)} --health-interval ${`${spec.healthcheck.intervalSeconds}s`} --health-retries ${spec.healthcheck.retries}`,
        ]
      : []),
  ];
  const verb = spec.running ? sh`podman run -d` : sh`podman create`;
  return sh`${verb} ${options.reduce((all, o) => sh`${all} ${o}`)} ${spec.image} ${entry ? entry.args : spec.command} >/dev/null`;
}

/** One line about the container and the generation this host last converged it to. */
export function stateProbe(key: string, id: string): Command {
  return script(
    sh`echo generation $(cat ${generationFile(id)} 2>/dev/null || echo 0)`,
    sh`echo state $(podman container inspect --format '{{.State.Status}} {{.RestartCount}} {{index .Config.Labels "up.spec"}} {{index .Config.Labels "up.id"}} {{.State.OOMKilled}} {{.State.ExitCode}}' ${key} 2>/dev/null || echo missing)`,
  );
}

export interface ContainerState {
  /** The generation this host last converged the container to (0: never). */
  generation: number;
  status: string;
  restarts: number;
  spec: string;
  id: string;
  oomKilled: boolean;
  exitCode: number;
}

export function parseState(output: string): ContainerState {
  const line = (name: string) =>
    output
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.slice(name.length + 1) ?? '';
  const [status = 'missing', restarts, spec = '', id = '', oom, exit] = line('state').trim().split(/\s+/);
  return {
    generation: Number(line('generation')) || 0,
    status,
    restarts: Number(restarts) || 0,
    spec,
    id,
    oomKilled: oom === 'true',
    exitCode: Number(exit) || 0,
  };
}

export const writeGeneration = (id: string, generation: number) =>
  script(
    sh`install -d -m 0700 ${STATE_DIR}`,
    sh`printf '%s\n' ${generation} > ${generationFile(id)}.tmp`,
    sh`mv -f ${generationFile(id)}.tmp ${generationFile(id)}`,
  );
