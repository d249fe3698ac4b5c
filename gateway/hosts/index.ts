/** Hosts: the machines up manages (admin), reached over SSH with pinned host keys. */
import { defineDomain } from '../domain.ts';
import { hostChecks, securityChecks } from './health.ts';
import { hostObservers } from './observers.ts';
import { hostSchemas } from './views.ts';

export default defineDomain({
  name: 'hosts',
  description: 'The machines up manages (admin).',
  names: {
    ops: ['host.*', 'health.check.host', 'health.check.security', 'health.repair.security'],
    why: 'operations are resource.verb in the singular; health checks are named health.<verb>.<resource type>',
  },
  schemas: hostSchemas,
  routes: async () => [(await import('./routes.ts')).hostRoutes],
  observers: hostObservers,
  unobserved: {
    'host.keyscan': 'the key it found is read from the job by whoever pins it',
    'host.update': 'what changed shows in the next probe and security check',
    'health.repair.security': 'the next security check judges the outcome',
  },
  checks: [hostChecks, securityChecks],
  // Roles whose domains are still to come keep their packages here until then.
  roles: [
    { role: 'db', packages: ['postgresql', 'mariadb-server'], ports: [3306, 5432] },
    { role: 'container', packages: ['podman'] },
    { role: 'hypervisor', packages: ['libvirt-daemon-system', 'qemu-system-x86'] },
    { role: 'backup', packages: ['restic'] },
  ],
});
