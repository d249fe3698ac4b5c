/**
 * Applications: building an app's image from its uploaded source, starting a release's replicas
 * until they are healthy, and retiring the replicas of the release before once every proxy
 * serves the new one. The gateway strings them together (gateway/apps/observers.ts).
 */
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { CONTAINER_KEY, ENV_KEY, IMAGE_REF } from '../../lib/validate/containers.ts';
import { ContainerSpec, ContainerTenant } from '../containers/ops.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { NginxLayout } from '../proxies/ops.ts';
import { hostName } from '../tenant-view.ts';

const SHA256 = '^[0-9a-f]{64}$';
/** An absolute path inside an image: safe characters, no `.` or `..` segments. */
export const IMAGE_PATH = '^(/(?!\\.{1,2}(/|$))[A-Za-z0-9._-]+)+/?$';
/** Logs travel as the tail of what the build or the replicas printed. */
export const LOG_TAIL_BYTES = 16_384;

export const AppRef = Type.Object(
  {
    id: Type.String({ pattern: UUID_PATTERN }),
    /** `<app>-<tenant>`: names the image and the build directory on the host. */
    key: Type.String({ pattern: CONTAINER_KEY }),
    tenant: ContainerTenant,
  },
  { additionalProperties: false },
);

const tenantView = ({ host, ...rest }: { host: { name: string } } & Record<string, unknown>) => ({ host: hostName(host), ...rest });

export const appBuild = defineOperation({
  name: 'app.build',
  summary:
    "Build an app's image on its host from the uploaded source and the template's Containerfile (no network, in the tenant's id range), and collect its static files for the proxies.",
  payload: Type.Object(
    {
      host: HostRef,
      app: AppRef,
      archive: Type.Object(
        { sha256: Type.String({ pattern: SHA256 }), bytes: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
      containerfile: Type.String({ minLength: 1, maxLength: 65_536, pattern: '^[^\\u0000]*$' }),
      /** The tag: the content hash of the source and the Containerfile, so an unchanged deploy builds nothing. */
      image: Type.String({ pattern: IMAGE_REF, maxLength: 255 }),
      staticDir: Type.Union([Type.String({ pattern: IMAGE_PATH, maxLength: 1024 }), Type.Null()]),
      /** What fills staticDir: run once in a container of the new image, in the tenant's id range, with no network. */
      collect: Type.Union([
        Type.Object(
          {
            command: Type.Array(Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), { minItems: 1, maxItems: 64 }),
            env: Type.Record(Type.String({ pattern: ENV_KEY }), Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), {
              maxProperties: 100,
            }),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    },
    { additionalProperties: false, $id: 'AppBuildPayload' },
  ),
  result: Type.Object(
    {
      host: Type.String(),
      image: Type.String(),
      built: Type.Boolean({ description: 'false: the image of this content was there already' }),
      /** The static files as a tar.gz in the content store under a temporary name, for the site's document root. */
      staticArchive: Type.Union([
        Type.Object(
          {
            temp: Type.String({ pattern: '^\\.upload-[0-9a-f-]{36}\\.tmp$' }),
            sha256: Type.String({ pattern: SHA256 }),
            bytes: Type.Integer(),
            expandedBytes: Type.Integer(),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
      log: Type.String({ maxLength: LOG_TAIL_BYTES * 2 }),
    },
    { additionalProperties: false, $id: 'AppBuildResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [5_000] },
  timeoutMs: 900_000,
  tenantView,
});

export const appRollout = defineOperation({
  name: 'app.rollout',
  summary:
    "Start a release's replicas beside the serving ones and wait until each passes its healthcheck (or answers on its port); when one does not, remove them all and fail with their logs.",
  payload: Type.Object(
    {
      host: HostRef,
      app: AppRef,
      release: Type.Integer({ minimum: 1 }),
      replicas: Type.Array(ContainerSpec, { minItems: 1, maxItems: 8 }),
      waitSeconds: Type.Integer({ minimum: 5, maximum: 600 }),
    },
    { additionalProperties: false, $id: 'AppRolloutPayload' },
  ),
  result: Type.Object(
    {
      host: Type.String(),
      release: Type.Integer(),
      replicas: Type.Array(
        Type.Object({ id: Type.String(), key: Type.String(), generation: Type.Integer() }, { additionalProperties: false }),
      ),
    },
    { additionalProperties: false, $id: 'AppRolloutResult' },
  ),
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 720_000,
  tenantView: ({ host, app, release, replicas }) => ({
    host: hostName(host),
    app,
    release,
    replicas: replicas.map((r) => ({ name: r.name, image: r.image })),
  }),
});

export const appRetire = defineOperation({
  name: 'app.retire',
  summary:
    "Remove the replicas of the release before, once every proxy member's vhost serves the site's generation that routes to the new one (retried until they do).",
  payload: Type.Object(
    {
      host: HostRef,
      app: AppRef,
      site: Type.Object(
        { id: Type.String({ pattern: UUID_PATTERN }), generation: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
      proxies: Type.Array(Type.Object({ host: HostRef, layout: NginxLayout }, { additionalProperties: false }), { maxItems: 64 }),
      replicas: Type.Array(
        Type.Object(
          {
            id: Type.String({ pattern: UUID_PATTERN }),
            key: Type.String({ pattern: CONTAINER_KEY }),
            generation: Type.Integer({ minimum: 1 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 16 },
      ),
    },
    { additionalProperties: false, $id: 'AppRetirePayload' },
  ),
  result: Type.Object({ host: Type.String(), removed: Type.Array(Type.String()) }, { additionalProperties: false, $id: 'AppRetireResult' }),
  retry: { maxAttempts: 8, tiersMs: [1_000, 2_000, 5_000, 15_000, 30_000] },
  timeoutMs: 180_000,
  tenantView: ({ host, app, site, replicas }) => ({ host: hostName(host), app, site, replicas }),
});
