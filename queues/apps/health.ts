/**
 * An app is checked as one resource: every serving replica there at its generation, running,
 * its healthcheck passing, its restarts not climbing, and answering HTTP on the port nginx
 * routes to. Its replicas are not checked one by one as containers, so a broken app raises one
 * alarm, not one per replica (and the site's 502 behind it is the app's to alarm, not the site's).
 */
import { Type, type Static } from 'typebox';
import { publishedEndpoint } from '../../lib/validate/upstream.ts';
import { CONTAINER_KEY } from '../../lib/validate/containers.ts';
import { ContainerSpec } from '../containers/ops.ts';
import { healthCheckContainer } from '../containers/health.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { hostName } from '../tenant-view.ts';
import { AppRef } from './ops.ts';

/** `address:port` or `[v6]:port`: where nginx reaches a replica. */
const ENDPOINT = '^([0-9.]{7,15}|\\[[0-9a-fA-F:.]{2,45}\\]):[0-9]{1,5}$';

export const ServingReplica = Type.Object(
  {
    ...healthCheckContainer.payload.properties.container.properties,
    endpoint: Type.Union([Type.String({ pattern: ENDPOINT }), Type.Null()], {
      description: 'the published port nginx routes to; null when the replica publishes none',
    }),
  },
  { additionalProperties: false },
);

/** How the check (and the repair, before it acts) looks at a replica of this spec; `restarts`: the count the last round saw. */
export function servingReplicaOf(spec: ContainerSpec, restarts: number): Static<typeof ServingReplica> {
  return {
    id: spec.id,
    key: spec.key,
    generation: spec.generation,
    running: spec.running,
    healthcheck: spec.healthcheck !== null,
    restarts,
    endpoint: spec.ports[0] ? publishedEndpoint(spec.ports[0]) : null,
  };
}

export const healthCheckApp = defineCheck({
  name: 'health.check.app',
  summary: "Are the app's serving replicas there at their generation, running, healthy, not restarting, and answering HTTP on their port?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      app: Type.Object(
        { key: Type.String({ pattern: CONTAINER_KEY }), replicas: Type.Array(ServingReplica, { minItems: 1, maxItems: 8 }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckAppPayload' },
  ),
});

/** Each serving replica that still fails is restarted, then recreated from its spec when that is not enough. */
export const healthRepairApp = defineOperation({
  name: 'health.repair.app',
  summary:
    "Look at each of an app's serving replicas again; restart the ones that fail (or answer no HTTP), and recreate from its stored spec one that a restart does not bring back.",
  payload: Type.Object(
    {
      host: HostRef,
      app: AppRef,
      replicas: Type.Array(ContainerSpec, { minItems: 1, maxItems: 8 }),
    },
    { additionalProperties: false, $id: 'HealthRepairAppPayload' },
  ),
  result: Type.Object(
    {
      host: Type.String(),
      replicas: Type.Array(
        Type.Object(
          {
            key: Type.String(),
            repair: Type.Union([Type.Literal('none'), Type.Literal('restarted'), Type.Literal('recreated')]),
            status: Type.String({ description: "podman's state of the replica afterwards" }),
            found: Type.Optional(Type.String({ description: 'what made it repair this replica' })),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false, $id: 'HealthRepairAppResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 600_000,
  tenantView: ({ host, app, replicas }) => ({
    host: hostName(host),
    app: app.key,
    replicas: replicas.map((r) => ({ name: r.name, image: r.image })),
  }),
});
