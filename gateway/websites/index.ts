/** Websites: static sites and upstream routes of users, served by every member of a proxy group. */
import { wantedSiteRecords } from '../dns/managed.ts';
import { defineDomain } from '../domain.ts';
import { collectContent } from './content-store.ts';
import { websiteChecks } from './health.ts';
import { websiteObservers } from './observers.ts';
import { OWNED_SITE_KIND } from './plans.ts';
import { webSchemas } from './views.ts';

export default defineDomain({
  name: 'websites',
  description: 'Websites on proxy groups: static files and upstreams, a temporary subdomain each.',
  names: {
    ops: ['website.*', 'health.check.website', 'health.repair.website'],
    cli: ['sites'],
    why: 'operations are resource.verb in the singular; the CLI noun is the short word users type',
  },
  // The proxy groups' shapes are registered here too: one list of web shapes (views.ts).
  schemas: webSchemas,
  routes: async () => [(await import('./routes.ts')).websiteRoutes],
  observers: websiteObservers,
  checks: [websiteChecks],
  owned: [OWNED_SITE_KIND],
  timers: [
    {
      // Archives no website or pending deploy needs, and uploads that never finished.
      name: 'content',
      everyMs: () => 600_000,
      async run({ db, log }) {
        const removed = await collectContent(db);
        if (removed.length) log.info({ removed: removed.length }, 'content store collected');
      },
    },
  ],
  roles: [{ role: 'web', packages: ['nginx'], ports: [80, 443] }],
  // A site's domains in its owner's zones point at its group (gateway/dns/managed.ts).
  recordManagers: [{ kind: 'website', table: 'websites', label: 'website', change: "the website's domains", wanted: wantedSiteRecords }],
});
