/** Apps: a website whose dynamic part runs in the tenant's containers, made from a template and deployed from source. */
import { defineDomain } from '../domain.ts';
import { appChecks } from './health.ts';
import { appObservers } from './observers.ts';
import { OWNED_APP_KIND } from './plans.ts';
import { appSchemas } from './views.ts';

export default defineDomain({
  name: 'apps',
  description:
    "Applications from templates (django, node, container, static): a website whose dynamic part runs in the tenant's replicas, built from uploaded source and rolled out without downtime.",
  names: {
    ops: ['app.build', 'app.rollout', 'app.retire', 'health.check.app', 'health.repair.app'],
    why: 'operations are resource.verb in the singular; health checks are health.check.<resource type>',
  },
  schemas: appSchemas,
  routes: async () => [(await import('./routes.ts')).appRoutes],
  observers: appObservers,
  // Before websites and containers: removing a user's app removes its site and replicas itself.
  owned: [OWNED_APP_KIND],
  checks: [appChecks],
});
