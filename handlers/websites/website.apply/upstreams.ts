import type { Static } from 'typebox';
import { NetworkSet, parseAddress } from '../../../lib/validate/address.ts';
import {
  DenyList,
  formatEndpoint,
  parseEndpoint,
  upstreamDenyList,
  upstreamRefusal,
  type UpstreamPolicy,
} from '../../../lib/validate/upstream.ts';
import type { HostRef } from '../../../queues/host-ref.ts';
import type { NginxLayout } from '../../../queues/proxies/ops.ts';
import type { WebsiteSpec } from '../../../queues/websites/ops.ts';
import { PermanentError } from '../../../lib/errors.ts';

type Route = Static<typeof WebsiteSpec>['routes'][number];

/**
 * The routes as they will be rendered: every upstream parsed again and checked against what
 * this message knows (the special ranges, this host itself and its SSH endpoint, this
 * process's UP_UPSTREAM_DENY, the group's networks), in its canonical spelling. A stored or
 * replayed site with a refused upstream fails for good: no retry makes it allowed.
 */
export function checkedRoutes(routes: Route[], layout: Static<typeof NginxLayout>, host: HostRef): Route[] {
  const self = parseAddress(host.address);
  const policy: UpstreamPolicy = {
    self: new NetworkSet(self ? [self.text] : []),
    deny: [upstreamDenyList(), DenyList.ofEndpoints([host])],
    allowed: layout.upstreamNetworks ? new NetworkSet(layout.upstreamNetworks) : null,
  };
  return routes.map((route) => {
    const endpoint = parseEndpoint(route.upstream);
    const reason = typeof endpoint === 'string' ? endpoint : upstreamRefusal(endpoint, policy);
    if (reason !== null || typeof endpoint === 'string') {
      throw new PermanentError(`route ${route.path}: upstream ${route.upstream} ${reason}`, { code: 'UPSTREAM_REFUSED' });
    }
    return { ...route, upstream: formatEndpoint(endpoint) };
  });
}
