import type { Static } from 'typebox';
import type { NginxLayout } from '../../../queues/proxies/ops.ts';
import type { WebsiteSpec } from '../../../queues/websites/ops.ts';
import { render } from '../../../lib/render.ts';
import { nginxPaths } from '../../proxies/nginx.ts';
import { siteCertName, tlsFiles, WILDCARD_CERT } from '../../../queues/certificates/ops.ts';

type Spec = Static<typeof WebsiteSpec>;
type Layout = Static<typeof NginxLayout>;

/** A route as the vhost places it: one checked ip:port, or the checked endpoints of the container it names (none: 502). */
export type VhostRoute = { path: string; websocket: boolean; upstream: string } | { path: string; websocket: boolean; endpoints: string[] };
/** The site with its routes checked and resolved (checkedRoutes). */
export type VhostSite = Omit<Spec, 'routes'> & { routes: VhostRoute[] };

/**
 * Routes as the template places them: a container route becomes an `upstream` block over its
 * endpoints (named after the site key, unique on the host, and the route's place), or 502 when
 * its container has no endpoint now.
 */
function routesView(site: VhostSite) {
  const upstreams: { name: string; servers: string[] }[] = [];
  const routes = site.routes.map((route, i) => {
    const base = { path: route.path, websocket: route.websocket };
    if ('upstream' in route) return { ...base, upstream: route.upstream, unavailable: false, balanced: false };
    if (route.endpoints.length === 0) return { ...base, upstream: null, unavailable: true, balanced: false };
    const name = `up_${site.key.replace(/-/g, '_')}_${i}`;
    upstreams.push({ name, servers: route.endpoints });
    return { ...base, upstream: name, unavailable: false, balanced: true };
  });
  return { upstreams, routes };
}

export function sitePaths(layout: Layout, key: string) {
  const paths = nginxPaths(layout.baseDir);
  return {
    vhost: `${paths.vhosts}/${key}.conf`,
    docRoot: `${paths.www}/${key}`,
    htpasswd: `${paths.auth}/${key}.htpasswd`,
  };
}

/** Which certificates this host holds for the site: only those get an HTTPS server (nginx -t fails on a missing file). */
export interface InstalledCerts {
  /** The group's wildcard: the temporary subdomain. */
  wildcard: boolean;
  /** The names the site's own certificate on this host covers. */
  siteNames: string[];
}

const listens = (layout: Layout, port: number, ssl: boolean) =>
  [String(port), ...(layout.ipv6 ? [`[::]:${port}`] : [])].map((l) => (ssl ? `${l} ssl` : l));

/**
 * The server blocks: HTTP for every name (redirecting to HTTPS the names that have a
 * certificate here, when asked), HTTPS for the temporary subdomain with the wildcard, and
 * HTTPS for the other names with the site's certificate.
 */
function serversOf(layout: Layout, site: VhostSite, certs: InstalledCerts) {
  const [temp, ...own] = site.serverNames;
  const wildcard = tlsFiles(layout.baseDir, WILDCARD_CERT);
  const mine = tlsFiles(layout.baseDir, siteCertName(site.key));
  const covered = site.tls ? own.filter((n) => certs.siteNames.includes(n)) : [];
  const siteTls = covered.length > 0;
  const secured = [...(certs.wildcard ? [temp] : []), ...covered];
  const plain = site.serverNames.filter((n) => !secured.includes(n));
  type Server = { listens: string[]; names: string[]; ssl: { cert: string; key: string } | null; redirect: boolean };
  const http = (names: string[], redirect: boolean): Server => ({
    listens: listens(layout, layout.httpPort, false),
    names,
    ssl: null,
    redirect,
  });
  const https = (names: string[], files: { cert: string; key: string }): Server => ({
    listens: listens(layout, layout.httpsPort ?? 443, true),
    names,
    ssl: files,
    redirect: false,
  });
  const servers =
    site.httpsRedirect && site.tls && secured.length > 0
      ? [...(plain.length ? [http(plain, false)] : []), http(secured, true)]
      : [http(site.serverNames, false)];
  if (certs.wildcard) servers.push(https([temp], wildcard));
  if (siteTls) servers.push(https(covered, mine));
  const redirects = site.redirects.flatMap((r) => [
    { ...r, listens: listens(layout, layout.httpPort, false), ssl: null },
    ...(site.tls && certs.siteNames.includes(r.from) ? [{ ...r, listens: listens(layout, layout.httpsPort ?? 443, true), ssl: mine }] : []),
  ]);
  return { servers, redirects };
}

/** The plain view the vhost template places; every value passed a strict pattern already. */
export function vhostView(layout: Layout, site: VhostSite, certs: InstalledCerts = { wildcard: false, siteNames: [] }) {
  const paths = sitePaths(layout, site.key);
  const rootRouted = site.routes.some((route) => route.path === '/');
  return {
    ...serversOf(layout, site, certs),
    acmeIssuer: layout.acmeIssuer ?? null,
    id: site.id,
    generation: site.generation,
    baseDir: layout.baseDir,
    siteKey: site.key,
    docRoot: paths.docRoot,
    maxBodySize: site.maxBodySize,
    headers: site.headers,
    errorPages: site.errorPages,
    basicAuth: site.basicAuth ? { realm: site.basicAuth.realm, file: paths.htpasswd } : null,
    ...routesView(site),
    staticPaths: site.staticPaths ?? [],
    static: site.static && !rootRouted,
    notFound: !site.static && !rootRouted,
  };
}

export const renderVhost = (layout: Layout, site: VhostSite, certs?: InstalledCerts) =>
  render('nginx', 'nginx/vhost.conf.mustache', vhostView(layout, site, certs));

/** htpasswd lines are built here, not by a template: `$` is part of every apr1 hash. */
export function htpasswd(site: Spec): string | null {
  return site.basicAuth ? site.basicAuth.users.map((user) => `${user.name}:${user.hash}\n`).join('') : null;
}
