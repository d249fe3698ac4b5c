import { Type, type Static } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.ts';
import {
  CONTAINER_KEY,
  CONTAINER_NAME,
  ContainerLimits,
  ENV_KEY,
  Healthcheck,
  IMAGE_REF,
  MOUNT_TARGET,
  RestartPolicy,
} from '../../lib/validate/containers.ts';
import { SECRET_NAME } from '../../lib/validate/secrets.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { hostName } from '../tenant-view.ts';

const USER_NAME = '^[a-z][a-z0-9]{1,30}$';
const ADDRESS = '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-f:]{2,39})$';

/**
 * Whose container it is, as the host needs it: the tenant's id range (root in the container is
 * `subidStart` on the host), and the tenant's own network on this host.
 */
export const ContainerTenant = Type.Object(
  {
    name: Type.String({ pattern: USER_NAME }),
    subidStart: Type.Integer({ minimum: 65536 }),
    network: Type.String({
      pattern: '^up-[a-z][a-z0-9]{1,30}$',
      description: "the tenant's podman network on the host (isolated from the others)",
    }),
  },
  { additionalProperties: false },
);

const Identity = {
  id: Type.String({ pattern: UUID_PATTERN }),
  /** The podman name on the host: `<name>-<tenant>`. */
  key: Type.String({ pattern: CONTAINER_KEY }),
  generation: Type.Integer({ minimum: 1 }),
};

/**
 * A secret the container reads, as the handler needs it. Why the sealed value travels: handlers
 * never touch Postgres (DESIGN principle 2), so the message must carry the value somehow; it
 * carries it sealed (AES-256-GCM, bound to owner and name), which only a handler holding
 * UP_SECRETS_KEY_FILE opens, right before it pipes the plaintext over SSH stdin into
 * `podman secret create` (never argv, never a file of ours). The job row, logs and results hold
 * only this sealed text; the tenant's view of the job not even that.
 */
export const ContainerSecret = Type.Object(
  {
    name: Type.String({ pattern: SECRET_NAME }),
    env: Type.Optional(Type.String({ pattern: ENV_KEY })),
    owner: Type.String({ pattern: UUID_PATTERN, description: 'whose secret: part of what the sealed value is bound to' }),
    digest: Type.String({
      pattern: '^[0-9a-f]{16}$',
      description: "which value: changes with every PUT (the container's spec changes with it)",
    }),
    sealed: Type.String({ pattern: '^v1\\.[A-Za-z0-9_-]+$', maxLength: 100_000 }),
    /** Which secret, and which of its values: a message that arrives after a newer value was delivered does not put its older one back. */
    secretId: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type ContainerSecret = Static<typeof ContainerSecret>;

/** Everything a host needs to converge one container: normalized by the gateway, checked again here. */
export const ContainerSpec = Type.Object(
  {
    ...Identity,
    name: Type.String({ pattern: CONTAINER_NAME, description: "the container's DNS name on the tenant's network" }),
    tenant: ContainerTenant,
    image: Type.String({ pattern: IMAGE_REF, maxLength: 255 }),
    command: Type.Array(Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), { maxItems: 64 }),
    env: Type.Record(Type.String({ pattern: ENV_KEY }), Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), {
      additionalProperties: false,
      maxProperties: 100,
    }),
    ports: Type.Array(
      Type.Object(
        {
          container: Type.Integer({ minimum: 1, maximum: 65535 }),
          host: Type.Integer({ minimum: 1024, maximum: 65535 }),
          address: Type.String({ pattern: ADDRESS }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10 },
    ),
    volumes: Type.Array(
      Type.Object(
        {
          volume: Type.String({ pattern: CONTAINER_KEY, description: 'the podman volume: `<name>-<tenant>`' }),
          target: Type.String({ pattern: MOUNT_TARGET, maxLength: 1024 }),
          readOnly: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10 },
    ),
    limits: ContainerLimits,
    restart: RestartPolicy,
    healthcheck: Type.Union([Healthcheck, Type.Null()]),
    running: Type.Boolean({ description: 'the desired state: running, or created and stopped' }),
    secrets: Type.Optional(Type.Array(ContainerSecret, { maxItems: 20 })),
  },
  { additionalProperties: false, $id: 'ContainerSpec' },
);
export type ContainerSpec = Static<typeof ContainerSpec>;

const ContainerRef = Type.Object(
  { ...Identity, tenant: ContainerTenant },
  { additionalProperties: false, description: 'which container; the generation the change belongs to' },
);

const tenantView = ({ host, container }: { host: { name: string }; container: unknown }) => ({ host: hostName(host), container });

/** The tenant sees their container's spec, its secrets by name and version only: the sealed values stay in the job row. */
const specView = ({ host, container }: { host: { name: string }; container: ContainerSpec }) => ({
  host: hostName(host),
  container: container.secrets ? { ...container, secrets: container.secrets.map(({ sealed: _, owner: _o, ...use }) => use) } : container,
});

export const ContainerState = Type.Object(
  {
    host: Type.String(),
    generation: Type.Integer(),
    changed: Type.Boolean(),
    status: Type.String({ description: "podman's state: running, exited, created, missing" }),
  },
  { additionalProperties: false },
);

export const containerApply = defineOperation({
  name: 'container.apply',
  summary:
    "Create a tenant's container on one host, or converge it to its spec (recreated when the spec changed, a no-op check when not), in the tenant's id range and network.",
  payload: Type.Object({ host: HostRef, container: ContainerSpec }, { additionalProperties: false, $id: 'ContainerApplyPayload' }),
  result: Type.Object(ContainerState.properties, { additionalProperties: false, $id: 'ContainerApplyResult' }),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 300_000,
  tenantView: specView,
});

/** start, stop, restart: the same shape; each is checked against the generation it was asked for. */
function powerOperation(verb: 'start' | 'stop' | 'restart', summary: string) {
  const Verb = verb[0].toUpperCase() + verb.slice(1);
  return defineOperation({
    name: `container.${verb}`,
    summary,
    payload: Type.Object({ host: HostRef, container: ContainerRef }, { additionalProperties: false, $id: `Container${Verb}Payload` }),
    result: Type.Object(ContainerState.properties, { additionalProperties: false, $id: `Container${Verb}Result` }),
    retry: { maxAttempts: 4, tiersMs: [1_000, 5_000, 30_000] },
    timeoutMs: 120_000,
    tenantView,
  });
}

export const containerStart = powerOperation('start', 'Start a stopped container.');
export const containerStop = powerOperation('stop', 'Stop a container (SIGTERM, then SIGKILL after 10 s); it stays stopped until started.');
export const containerRestart = powerOperation('restart', 'Restart a container in place.');

export const containerDelete = defineOperation({
  name: 'container.delete',
  summary: "Remove a container from its host, and the tenant's network when it was the tenant's last container there. Volumes stay.",
  payload: Type.Object({ host: HostRef, container: ContainerRef }, { additionalProperties: false, $id: 'ContainerDeletePayload' }),
  result: Type.Object(
    { host: Type.String(), generation: Type.Integer(), changed: Type.Boolean(), networkRemoved: Type.Boolean() },
    { additionalProperties: false, $id: 'ContainerDeleteResult' },
  ),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 120_000,
  tenantView,
});

export const containerLogs = defineOperation({
  name: 'container.logs',
  summary: 'The last lines a container wrote (stdout and stderr), from a point in time on: what `up containers logs [-f]` reads.',
  payload: Type.Object(
    {
      host: HostRef,
      container: Type.Object({ id: Identity.id, key: Identity.key }, { additionalProperties: false }),
      tail: Type.Integer({ minimum: 1, maximum: 10_000 }),
      since: Type.Optional(Type.String({ format: 'date-time', description: 'only lines after this time (RFC 3339)' })),
    },
    { additionalProperties: false, $id: 'ContainerLogsPayload' },
  ),
  result: Type.Object(
    {
      lines: Type.Array(Type.Object({ at: Type.String(), text: Type.String() }, { additionalProperties: false })),
      until: Type.String({ description: 'the time of the last line (or of the read): the next `since`' }),
    },
    { additionalProperties: false, $id: 'ContainerLogsResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [1_000] },
  timeoutMs: 30_000,
  tenantView: ({ host, container, tail, since }) => ({ host: hostName(host), container, tail, since }),
});

export const containerStats = defineOperation({
  name: 'container.stats',
  summary: 'CPU, memory and process counts of containers on one host, read once from their cgroups.',
  payload: Type.Object(
    { host: HostRef, keys: Type.Array(Type.String({ pattern: CONTAINER_KEY }), { minItems: 1, maxItems: 500 }) },
    { additionalProperties: false, $id: 'ContainerStatsPayload' },
  ),
  result: Type.Object(
    {
      stats: Type.Array(
        Type.Object(
          {
            key: Type.String(),
            cpuPercent: Type.Number(),
            memoryBytes: Type.Number(),
            memoryLimitBytes: Type.Number(),
            pids: Type.Integer(),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false, $id: 'ContainerStatsResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [1_000] },
  timeoutMs: 30_000,
  tenantView: ({ host, keys }) => ({ host: hostName(host), keys }),
});

export const containerHostSetup = defineOperation({
  name: 'container.host.setup',
  summary:
    'Configure rootful podman on a host of the containers role: runc, cgroupfs, ulimits within the host limits, catatonit for --init, and the chain that keeps tenant networks apart.',
  payload: Type.Object(
    {
      host: HostRef,
      ulimits: Type.Object(
        { nofile: Type.Integer({ minimum: 1024, maximum: 1_048_576 }), nproc: Type.Integer({ minimum: 1024, maximum: 4_194_304 }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'ContainerHostSetupPayload' },
  ),
  result: Type.Object(
    { host: Type.String(), changed: Type.Boolean(), podman: Type.String() },
    { additionalProperties: false, $id: 'ContainerHostSetupResult' },
  ),
  retry: { maxAttempts: 4, tiersMs: [2_000, 10_000, 30_000] },
  timeoutMs: 120_000,
  tenantView: ({ host }) => ({ host: hostName(host) }),
});
