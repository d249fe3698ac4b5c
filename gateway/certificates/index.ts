/** Certificates: ACME certificates for sites, proxy wildcards and services, issued and renewed with certbot. */
import { certIssue, certRenew } from '../../queues/certificates/ops.ts';
import { defineDomain } from '../domain.ts';
import { observe } from '../observe.ts';
import { certificateChecks } from './health.ts';
import { certificateObserved } from './observers.ts';
import { publishRenewals, publishWildcards } from './renewal.ts';
import { certificateSchemas } from './views.ts';

export default defineDomain({
  name: 'certificates',
  description: 'TLS certificates kept by certbot: sites, proxy wildcards, services; expiry, renewal, errors.',
  names: {
    ops: ['cert.*', 'health.check.certificate'],
    cli: ['certs'],
    why: 'operations and the CLI noun use the short word; health checks are named health.check.<resource type>',
  },
  schemas: certificateSchemas,
  routes: async () => {
    const [{ certificateRoutes }, { serviceCertificateRoutes }] = await Promise.all([import('./routes.ts'), import('./service-routes.ts')]);
    return [certificateRoutes, serviceCertificateRoutes];
  },
  observers: [observe(certIssue, certificateObserved), observe(certRenew, certificateObserved)],
  checks: [certificateChecks],
  timers: [
    {
      // Certificates due for renewal (or a retry) get a job.
      name: 'certificates',
      everyMs: (settings) => settings.certRenewIntervalMs ?? 43_200_000,
      run: (context) => publishRenewals(context),
    },
    {
      // A proxy group's wildcard, once a zone hosted here covers it and is active: zones usually come after the group.
      name: 'wildcard-certificates',
      everyMs: (settings) => Math.min(30_000, settings.certRenewIntervalMs ?? 30_000),
      run: (context) => publishWildcards(context),
    },
  ],
});
