/**
 * What a container spec may say. Every value here reaches a podman command line (quoted, one
 * word each) or a label; the patterns keep them to what podman means by them, so no value can
 * become an option, a host path or a second word.
 */
import { Type, type Static } from 'typebox';
import { SECRET_NAME } from './secrets.ts';

/** A container or volume name as its owner says it: also its DNS name on the tenant's network. */
export const CONTAINER_NAME = '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$';
/** `<name>-<tenant>`: the podman name on the host (tenant names have no hyphen, so it parses back). */
export const CONTAINER_KEY = '^[a-z]([a-z0-9-]{0,62}[a-z0-9])?$';
/**
 * A registry reference: [registry[:port]/]path[:tag][@sha256:digest]. It cannot start with `-`
 * (no option), holds no space, slash-dot-dot or scheme.
 */
export const IMAGE_REF =
  '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$';
/** POSIX-ish environment names; values are free text but never NUL. */
export const ENV_KEY = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
const NO_NUL = '^[^\\u0000]*$';
/** An absolute path inside the container, no `.`/`..` segment, not the root and not /proc, /sys, /dev. */
export const MOUNT_TARGET = '^(?!/(proc|sys|dev)(/|$))(/(?!\\.{1,2}(/|$))[A-Za-z0-9._-]+)+$';

/** Host ports `up` hands out to containers, one per published container port (never a port of the platform's own). */
export const PUBLISHED_PORT_RANGE = { first: 20_000, last: 29_999 } as const;

export const ContainerLimits = Type.Object(
  {
    memoryMb: Type.Integer({ minimum: 16, maximum: 262_144, description: 'memory (and memory+swap) limit, MiB' }),
    cpus: Type.Number({ minimum: 0.05, maximum: 64, multipleOf: 0.01, description: 'CPU time, in CPUs' }),
    pids: Type.Integer({ minimum: 16, maximum: 32_768, description: 'process and thread limit' }),
  },
  { additionalProperties: false },
);
export type ContainerLimits = Static<typeof ContainerLimits>;

export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;
export const RestartPolicy = Type.Union([Type.Literal('no'), Type.Literal('on-failure'), Type.Literal('always')], {
  description: 'on-failure: restarted up to 5 times by podman (conmon); the health check repairs beyond that',
});

export const Healthcheck = Type.Object(
  {
    command: Type.Array(Type.String({ minLength: 1, maxLength: 1024, pattern: NO_NUL }), { minItems: 1, maxItems: 32 }),
    intervalSeconds: Type.Integer({ minimum: 5, maximum: 3600 }),
    retries: Type.Integer({ minimum: 1, maximum: 10 }),
  },
  { additionalProperties: false },
);

export const PortRequest = Type.Object(
  { container: Type.Integer({ minimum: 1, maximum: 65535, description: 'the port the service listens on inside the container' }) },
  { additionalProperties: false },
);

export const VolumeMount = Type.Object(
  {
    name: Type.String({
      pattern: CONTAINER_NAME,
      description: "one of the owner's named volumes (created on first use); host paths are never mounted",
    }),
    target: Type.String({ pattern: MOUNT_TARGET, maxLength: 1024 }),
    readOnly: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** A secret a container uses: mounted read-only at /run/secrets/<name>, or (with `env`) given to its process as that variable. */
export const SecretUse = Type.Object(
  {
    name: Type.String({ pattern: SECRET_NAME, description: 'one of your secrets (up secrets set)' }),
    env: Type.Optional(
      Type.String({
        pattern: ENV_KEY,
        description:
          "deliver it as this environment variable of the container's process (read from the mounted file at start: the image needs /bin/sh) instead of the file",
      }),
    ),
  },
  { additionalProperties: false },
);

/** The parts of a container a user writes (create and edit). */
export const containerFields = {
  image: Type.String({ pattern: IMAGE_REF, maxLength: 255, description: 'e.g. docker.io/library/python:3.12-slim' }),
  command: Type.Array(Type.String({ maxLength: 4096, pattern: NO_NUL }), {
    maxItems: 64,
    description: "the process and its arguments, after the image (argv: never a podman option); empty: the image's",
  }),
  env: Type.Record(Type.String({ pattern: ENV_KEY }), Type.String({ maxLength: 4096, pattern: NO_NUL }), {
    additionalProperties: false,
    maxProperties: 100,
    description: 'plain settings: the owner sees them, and so does podman inspect on the host',
  }),
  ports: Type.Array(PortRequest, {
    maxItems: 10,
    description: 'published on the host address the proxies reach; the host port is allocated',
  }),
  volumes: Type.Array(VolumeMount, { maxItems: 10 }),
  limits: Type.Partial(ContainerLimits),
  restart: RestartPolicy,
  healthcheck: Type.Union([Healthcheck, Type.Null()]),
  secrets: Type.Array(SecretUse, {
    maxItems: 20,
    description:
      'your secrets this container reads: a file at /run/secrets/<name>, or an environment variable; never shown by podman inspect',
  }),
};

const optional = <T extends Record<string, import('typebox').TSchema>>(fields: T) =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof T]: ReturnType<typeof Type.Optional<T[K]>>;
  };

export const ContainerCreate = Type.Object(
  {
    name: Type.String({ pattern: CONTAINER_NAME, description: "unique per user; the container's name on the user's network" }),
    host: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
        description: 'admins: the host to place it on; default: the least loaded host with the containers role',
      }),
    ),
    running: Type.Optional(Type.Boolean({ description: 'false: created and left stopped (default: started)' })),
    image: containerFields.image,
    ...optional({
      command: containerFields.command,
      env: containerFields.env,
      ports: containerFields.ports,
      volumes: containerFields.volumes,
      limits: containerFields.limits,
      restart: containerFields.restart,
      healthcheck: containerFields.healthcheck,
      secrets: containerFields.secrets,
    }),
  },
  {
    additionalProperties: false,
    $id: 'ContainerCreate',
    examples: [
      {
        name: 'web',
        image: 'docker.io/library/python:3.12-slim',
        command: ['python3', '-m', 'http.server', '8000'],
        env: { APP_MODE: 'production' },
        ports: [{ container: 8000 }],
        volumes: [{ name: 'data', target: '/srv/data', readOnly: false }],
        limits: { memoryMb: 256, cpus: 0.5, pids: 256 },
        restart: 'on-failure',
        healthcheck: { command: ['python3', '-c', 'print(1)'], intervalSeconds: 30, retries: 3 },
      },
    ],
  },
);

export const ContainerEdit = Type.Object(optional(containerFields), {
  additionalProperties: false,
  minProperties: 1,
  $id: 'ContainerEdit',
  examples: [{ image: 'docker.io/library/python:3.13-slim', limits: { memoryMb: 512 } }],
});
