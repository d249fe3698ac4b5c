import { Type, type TSchema } from 'typebox';
import type { WebsiteRow } from './store.ts';
import type { MemberRow, ProxyGroupRow } from '../proxies/store.ts';
import { ProxyCreate, ProxyEdit, WebsiteCreate, WebsiteEdit } from '../../lib/validate/web.ts';
import { exampleOf, JOB_EXAMPLE } from '../schemas.ts';

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
    upstreamNetworks: Nullable(
      Type.Array(Type.String(), { description: 'networks every website upstream on this group must lie in; null: unrestricted' }),
    ),
    generation: Type.Integer({ description: 'the configuration generation every member converges to' }),
    hosts: Type.Array(
      Type.Object({
        name: Type.String(),
        address: Type.String(),
        appliedGeneration: Nullable(Type.Integer()),
        error: Nullable(Type.String()),
      }),
    ),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Proxy',
    examples: [
      {
        name: 'p1',
        wildcardDomain: 'p1.example.net',
        addresses: ['192.0.2.10'],
        baseDir: '/srv/up/nginx',
        httpPort: 80,
        httpsPort: 443,
        nginxUser: 'www-data',
        upstreamNetworks: ['198.51.100.0/24'],
        generation: 5,
        hosts: [{ name: 'web1', address: '192.0.2.10', appliedGeneration: 5, error: null }],
        createdAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
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
    routes: Type.Array(
      Type.Object({
        path: Type.String(),
        upstream: Type.Union([Type.String({ description: 'ip:port' }), Type.Object({ container: Type.String(), port: Type.Integer() })]),
        websocket: Type.Boolean(),
      }),
    ),
    staticPaths: Type.Array(Type.String()),
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
  {
    $id: 'Website',
    examples: [
      {
        id: '0193a5c6-7e8f-7091-a213-c4d5e6f70819',
        name: 'shop',
        owner: 'alice',
        proxy: 'p1',
        tempDomain: 'shop-alice.p1.example.net',
        url: 'https://www.example.net/',
        domains: ['www.example.net', 'example.net'],
        static: true,
        routes: [{ path: '/api/', upstream: '198.51.100.20:8080', websocket: false }],
        staticPaths: [],
        maxBodySize: '10m',
        basicAuth: null,
        errorPages: [{ code: 404, path: '/404.html' }],
        headers: [{ name: 'X-Frame-Options', value: 'DENY' }],
        wwwRedirect: 'to-www',
        httpsRedirect: true,
        tls: true,
        generation: 3,
        hosts: [{ host: 'web1', appliedGeneration: 3, error: null }],
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

const Change = (resource: 'Proxy' | 'Website', example: unknown) =>
  Type.Object(
    { [resource.toLowerCase()]: Type.Ref(resource), jobs: Type.Array(Type.Ref('Job'), { description: 'one job per member host' }) },
    { $id: `${resource}Change`, examples: [{ [resource.toLowerCase()]: example, jobs: [JOB_EXAMPLE] }] },
  );
export const ProxyChange = Change('Proxy', exampleOf(ProxyView));
export const WebsiteChange = Change('Website', exampleOf(WebsiteView));

export const webSchemas: TSchema[] = [
  ProxyCreate,
  ProxyEdit,
  WebsiteCreate,
  WebsiteEdit,
  ProxyView,
  WebsiteView,
  ProxyChange,
  WebsiteChange,
];

export function proxyView(group: ProxyGroupRow, members: MemberRow[]) {
  return {
    name: group.name,
    wildcardDomain: group.wildcard_domain,
    addresses: group.addresses,
    baseDir: group.base_dir,
    httpPort: group.http_port,
    httpsPort: group.https_port,
    nginxUser: group.nginx_user,
    upstreamNetworks: group.upstream_networks ?? null,
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
    staticPaths: site.spec.staticPaths ?? [],
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
