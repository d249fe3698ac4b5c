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
import type { VhostRoute } from './view.ts';

type Spec = Static<typeof WebsiteSpec>;

const refused = (path: string, what: string, reason: string) =>
  new PermanentError(`route ${path}: upstream ${what} ${reason}`, { code: 'UPSTREAM_REFUSED' });

/**
 * The endpoints of the container a route names, from the allocation the message carries and
 * nowhere else. Why this and not a flag on the route: a route's `upstream` is what the owner
 * wrote (stored, replayable), so nothing in it may say "trust me, I am a published port". The
 * allocation is written by the gateway from its own table at plan time, keyed by the site
 * owner's containers; here it must also name the owner (`<name>-<tenant>` against `up-<tenant>`)
 * and each port must lie in the range `up` publishes containers on. Only an endpoint that passed
 * all that is `published`, and only then may it sit on a managed (proxy) host's address.
 */
function containerEndpoints(site: Spec, path: string, upstream: { container: string; port: number }): string[] {
  const what = `container ${upstream.container} port ${upstream.port}`;
  const tenant = site.owner?.replace(/^up-/, '') ?? null;
  const entry = (site.containers ?? []).find((c) => c.name === upstream.container);
  if (!entry) return [];
  if (tenant === null || entry.key !== `${entry.name}-${tenant}`) throw refused(path, what, "is not the site owner's container");
  return entry.ports
    .filter((p) => p.container === upstream.port)
    .map((p) => {
      const address = parseAddress(p.address);
      if (!address) throw refused(path, what, `has an invalid publish address ${p.address}`);
      return formatEndpoint({ address, port: p.host });
    });
}

/**
 * The routes as they will be rendered: every fixed upstream parsed again and checked against
 * what this message knows (the special ranges, this host itself and its SSH endpoint, this
 * process's UP_UPSTREAM_DENY, the group's networks, the containers hosts' published range), in
 * its canonical spelling; every container
 * route resolved to its published endpoints (none: the container is gone, nginx answers 502)
 * and each checked the same way, except that a published port of the owner's own container may
 * be on this host. A stored or replayed site with a refused upstream fails for good: no retry
 * makes it allowed.
 */
export function checkedRoutes(site: Spec, layout: Static<typeof NginxLayout>, host: HostRef): VhostRoute[] {
  const self = parseAddress(host.address);
  const policy: UpstreamPolicy = {
    self: new NetworkSet(self ? [self.text] : []),
    deny: [upstreamDenyList(), DenyList.ofEndpoints([host])],
    allowed: layout.upstreamNetworks ? new NetworkSet(layout.upstreamNetworks) : null,
    publishers: new NetworkSet(site.publishers ?? []),
  };
  const checked = (path: string, raw: string, published: boolean): string => {
    const endpoint = parseEndpoint(raw);
    const reason = typeof endpoint === 'string' ? endpoint : upstreamRefusal(endpoint, policy, published);
    if (reason !== null || typeof endpoint === 'string') throw refused(path, raw, reason ?? 'is refused');
    return formatEndpoint(endpoint);
  };
  return site.routes.map((route) =>
    typeof route.upstream === 'string'
      ? { path: route.path, websocket: route.websocket, upstream: checked(route.path, route.upstream, false) }
      : {
          path: route.path,
          websocket: route.websocket,
          endpoints: containerEndpoints(site, route.path, route.upstream).map((e) => checked(route.path, e, true)),
        },
  );
}
