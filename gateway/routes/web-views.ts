import { Type, type TSchema } from 'typebox';
import type { MemberRow, ProxyGroupRow, WebsiteRow } from '../../lib/db/web.ts';
import { ProxyCreate, WebsiteCreate, WebsiteEdit } from '../../lib/validate/web.ts';

const iso = (d: Date | string) => new Date(d).toISOString();
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ProxyView = Type.Object(
  {
    name: Type.String(),
    wildcardDomain: Type.String(),
    addresses: Type.Array(Type.String()),
    baseDir: Type.String(),
    httpPort: Type.Integer(),
    httpsPort: Type.Integer(),
    nginxUser: Type.String(),
    generation: Type.Integer({ description: 'the configuration generation every member converges to' }),
    hosts: Type.Array(
      Type.Object({ name: Type.String(), address: Type.String(), appliedGeneration: Nullable(Type.Integer()), error: Nullable(Type.String()) }),
    ),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Proxy' },
);

export const WebsiteView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    owner: Type.String(),
    proxy: Type.String(),
    tempDomain: Type.String({ description: 'answers at once: <site>-<user>.<wildcard>' }),
    url: Type.String(),
    domains: Type.Array(Type.String()),
    static: Type.Boolean(),
    routes: Type.Array(Type.Object({ path: Type.String(), upstream: Type.String(), websocket: Type.Boolean() })),
    maxBodySize: Type.String(),
    basicAuth: Nullable(Type.Object({ realm: Type.String(), users: Type.Array(Type.String()) })),
    errorPages: Type.Array(Type.Object({ code: Type.Integer(), path: Type.String() })),
    headers: Type.Array(Type.Object({ name: Type.String(), value: Type.String() })),
    wwwRedirect: Type.String(),
    httpsRedirect: Type.Boolean(),
    tls: Type.Boolean(),
    generation: Type.Integer(),
    hosts: Type.Array(Type.Object({ host: Type.String(), appliedGeneration: Nullable(Type.Integer()), error: Nullable(Type.String()) })),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Website' },
);

const Change = (resource: string) =>
  Type.Object(
    { [resource.toLowerCase()]: Type.Ref(resource), jobs: Type.Array(Type.Ref('Job'), { description: 'one job per member host' }) },
    { $id: `${resource}Change` },
  );
export const ProxyChange = Change('Proxy');
export const WebsiteChange = Change('Website');

export const webSchemas: TSchema[] = [ProxyCreate, WebsiteCreate, WebsiteEdit, ProxyView, WebsiteView, ProxyChange, WebsiteChange];

export function proxyView(group: ProxyGroupRow, members: MemberRow[]) {
  return {
    name: group.name,
    wildcardDomain: group.wildcard_domain,
    addresses: group.addresses,
    baseDir: group.base_dir,
    httpPort: group.http_port,
    httpsPort: group.https_port,
    nginxUser: group.nginx_user,
    generation: group.generation,
    hosts: members.map((m) => ({ name: m.name, address: m.address, appliedGeneration: m.applied_generation, error: m.last_error })),
    createdAt: iso(group.created_at),
  };
}

export interface SiteContext {
  owner: string;
  proxy: ProxyGroupRow;
  hosts: { host: string; applied_generation: number | null; last_error: string | null }[];
}

export function websiteView(site: WebsiteRow, ctx: SiteContext) {
  const port = ctx.proxy.http_port === 80 ? '' : `:${ctx.proxy.http_port}`;
  return {
    id: site.id,
    name: site.name,
    owner: ctx.owner,
    proxy: ctx.proxy.name,
    tempDomain: site.temp_domain,
    url: `http://${site.temp_domain}${port}/`,
    domains: site.spec.domains,
    static: site.spec.static,
    routes: site.spec.routes,
    maxBodySize: site.spec.maxBodySize,
    basicAuth: site.spec.basicAuth && { realm: site.spec.basicAuth.realm, users: site.spec.basicAuth.users.map((u) => u.name) },
    errorPages: site.spec.errorPages,
    headers: site.spec.headers,
    wwwRedirect: site.spec.wwwRedirect,
    httpsRedirect: site.spec.httpsRedirect,
    tls: site.tls,
    generation: site.generation,
    hosts: ctx.hosts.map((h) => ({ host: h.host, appliedGeneration: h.applied_generation, error: h.last_error })),
    createdAt: iso(site.created_at),
    updatedAt: iso(site.updated_at),
  };
}
