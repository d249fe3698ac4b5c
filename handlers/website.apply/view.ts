import type { Static } from 'typebox';
import type { NginxLayout } from '../../queues/ops/proxy.ts';
import type { WebsiteSpec } from '../../queues/ops/website.ts';
import { render } from '../../lib/render.ts';
import { nginxPaths } from '../nginx.ts';

type Spec = Static<typeof WebsiteSpec>;
type Layout = Static<typeof NginxLayout>;

export function sitePaths(layout: Layout, key: string) {
  const paths = nginxPaths(layout.baseDir);
  return {
    vhost: `${paths.vhosts}/${key}.conf`,
    docRoot: `${paths.www}/${key}`,
    htpasswd: `${paths.auth}/${key}.htpasswd`,
  };
}

/** The plain view the vhost template places; every value passed a strict pattern already. */
export function vhostView(layout: Layout, site: Spec) {
  const paths = sitePaths(layout, site.key);
  const rootRouted = site.routes.some((route) => route.path === '/');
  return {
    id: site.id,
    generation: site.generation,
    port: layout.httpPort,
    ipv6: layout.ipv6,
    baseDir: layout.baseDir,
    siteKey: site.key,
    serverNames: site.serverNames,
    docRoot: paths.docRoot,
    maxBodySize: site.maxBodySize,
    headers: site.headers,
    errorPages: site.errorPages,
    basicAuth: site.basicAuth ? { realm: site.basicAuth.realm, file: paths.htpasswd } : null,
    httpsRedirect: site.httpsRedirect && site.tls,
    routes: site.routes,
    static: site.static && !rootRouted,
    notFound: !site.static && !rootRouted,
    redirects: site.redirects,
  };
}

export const renderVhost = (layout: Layout, site: Spec) => render('nginx', 'nginx/vhost.conf.mustache', vhostView(layout, site));

/** htpasswd lines are built here, not by a template: `$` is part of every apr1 hash. */
export function htpasswd(site: Spec): string | null {
  return site.basicAuth ? site.basicAuth.users.map((user) => `${user.name}:${user.hash}\n`).join('') : null;
}
