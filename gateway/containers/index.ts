/** Containers: tenants' services in rootful podman, each tenant in its own id range and network. */
import { defineDomain } from '../domain.ts';
import { containerChecks } from './health.ts';
import { containerObservers } from './observers.ts';
import { CONTAINERS_ROLE } from './placement.ts';
import { containerHostSetupOf } from './setup.ts';
import { OWNED_CONTAINER_KIND } from './plans.ts';
import { containerSchemas } from './views.ts';

export default defineDomain({
  name: 'containers',
  description:
    "Tenants' containers (podman): each tenant's own uid/gid range and network, limits from the plan, published ports allocated.",
  names: {
    ops: ['container.*', 'health.check.container', 'health.repair.container'],
    why: 'operations are resource.verb in the singular; health checks are health.check.<resource type>',
  },
  schemas: containerSchemas,
  routes: async () => [(await import('./routes.ts')).containerRoutes],
  observers: containerObservers,
  unobserved: {
    'container.delete': 'the row is gone when the delete is accepted; the host keeps a tombstone generation',
    'container.logs': "the lines are the job's result; nothing is stored",
    'container.stats': "the sample is the job's result; nothing is stored",
    'container.host.setup': 'podman is configured; the containers that follow need nothing stored',
  },
  checks: [containerChecks],
  owned: [OWNED_CONTAINER_KIND],
  roles: [
    {
      role: CONTAINERS_ROLE,
      // iptables: netavark runs it for every container network; podman only recommends it, and
      // hosts install without recommends (without it, every start fails "netavark: No such file").
      packages: [
        'podman',
        'runc',
        'conmon',
        'catatonit',
        'netavark',
        'aardvark-dns',
        'iptables',
        // conntrack: a new container's address may be a removed one's; its old flows are forgotten at start.
        'conntrack',
        'uidmap',
        'golang-github-containers-common',
      ],
      setup: containerHostSetupOf,
      // The ports up published for containers there: any other listener in the range is unexplained.
      portsOf: async (db, host) =>
        (await db('container_ports').where({ host: host.name }).select('port')).map((r: { port: number }) => r.port),
    },
  ],
});
