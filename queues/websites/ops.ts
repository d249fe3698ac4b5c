import { Type } from 'typebox';
import {
  AUTH_USER,
  Domain,
  ERROR_CODES,
  HEADER_ALLOWLIST,
  HEADER_VALUE,
  HTPASSWD_HASH,
  REALM,
  BODY_SIZE,
  URL_PATH,
  ContainerUpstream,
  NETWORK,
} from '../../lib/validate/web.ts';
import { CONTAINER_KEY, CONTAINER_NAME, PUBLISHED_PORT_RANGE } from '../../lib/validate/containers.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { hostName } from '../tenant-view.ts';
import { NginxLayout } from '../proxies/ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

/** `<site>-<user>`: the vhost file, document root and temporary subdomain label. */
export const SITE_KEY = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const UNIX_USER = '^up-[a-z][a-z0-9_]{0,31}$';

const SiteIdentity = {
  id: Type.String({ pattern: UUID_PATTERN }),
  key: Type.String({ pattern: SITE_KEY }),
  generation: Type.Integer({ minimum: 1 }),
};

/**
 * The owner's containers the routes name, as the gateway found them in its allocation table
 * when it planned the job: the host port `up` allocated for each published container port, on
 * the host's publish address. Routes carry only names; website.apply resolves them here and
 * nowhere else, so an endpoint is treated as a tenant's published port only if it is one of these.
 */
export const SiteContainers = Type.Array(
  Type.Object(
    {
      name: Type.String({ pattern: CONTAINER_NAME }),
      key: Type.String({ pattern: CONTAINER_KEY, description: '<name>-<tenant>: whose container it is' }),
      ports: Type.Array(
        Type.Object(
          {
            container: Type.Integer({ minimum: 1, maximum: 65535 }),
            host: Type.Integer({ minimum: PUBLISHED_PORT_RANGE.first, maximum: PUBLISHED_PORT_RANGE.last }),
            address: Type.String({ pattern: '^([0-9.]{7,15}|[0-9a-fA-F:.]{2,45})$' }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 10 },
      ),
    },
    { additionalProperties: false },
  ),
  { maxItems: 50 },
);

/** The normalized site a handler renders: domains in punycode, passwords already hashed. */
export const WebsiteSpec = Type.Object(
  {
    ...SiteIdentity,
    owner: Type.Union([Type.String({ pattern: UNIX_USER }), Type.Null()], {
      description: "the tenant's Unix user, when the site has a tenant",
    }),
    serverNames: Type.Array(Domain, { minItems: 1, maxItems: 60 }),
    static: Type.Boolean(),
    routes: Type.Array(
      Type.Object(
        {
          path: Type.String({ pattern: URL_PATH, maxLength: 257 }),
          upstream: Type.Union([
            Type.String({
              pattern: '^([0-9.]{7,15}|\\[[0-9a-f:.]{2,45}\\]):[0-9]{1,5}$',
              description:
                'canonical ip:port or [ipv6]:port; website.apply parses and checks it again (a pattern cannot tell ::ffff:7f00:1 is loopback)',
            }),
            ContainerUpstream,
          ]),
          websocket: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { maxItems: 50 },
    ),
    staticPaths: Type.Optional(Type.Array(Type.String({ pattern: URL_PATH, maxLength: 257 }), { maxItems: 20 })),
    maxBodySize: Type.String({ pattern: BODY_SIZE }),
    basicAuth: Type.Union([
      Type.Null(),
      Type.Object(
        {
          realm: Type.String({ pattern: REALM }),
          users: Type.Array(
            Type.Object(
              { name: Type.String({ pattern: AUTH_USER }), hash: Type.String({ pattern: HTPASSWD_HASH }) },
              { additionalProperties: false },
            ),
            {
              minItems: 1,
              maxItems: 100,
            },
          ),
        },
        { additionalProperties: false },
      ),
    ]),
    errorPages: Type.Array(
      Type.Object({ code: Type.Enum([...ERROR_CODES]), path: Type.String({ pattern: URL_PATH }) }, { additionalProperties: false }),
      { maxItems: ERROR_CODES.length },
    ),
    headers: Type.Array(
      Type.Object(
        { name: Type.Enum([...HEADER_ALLOWLIST]), value: Type.String({ pattern: HEADER_VALUE }) },
        { additionalProperties: false },
      ),
      { maxItems: HEADER_ALLOWLIST.length },
    ),
    redirects: Type.Array(Type.Object({ from: Domain, to: Domain }, { additionalProperties: false }), { maxItems: 60 }),
    httpsRedirect: Type.Boolean(),
    tls: Type.Boolean({ description: 'a certificate is installed (set by the certificates issue); gates httpsRedirect' }),
    containers: Type.Optional(SiteContainers),
    publishers: Type.Optional(
      Type.Array(Type.String({ pattern: NETWORK, maxLength: 49 }), {
        maxItems: 256,
        description:
          "where containers hosts publish: no fixed upstream may reach the published range there (only a route naming the owner's container); never shown to tenants",
      }),
    ),
  },
  { additionalProperties: false, $id: 'WebsiteSpec' },
);

const HostResult = { host: Type.String(), generation: Type.Integer(), changed: Type.Boolean() };

export const websiteApply = defineOperation({
  name: 'website.apply',
  summary: "Render a website's vhost on one proxy host, validate it with nginx -t (restoring the old file on failure), reload.",
  payload: Type.Object(
    { host: HostRef, layout: NginxLayout, site: WebsiteSpec },
    { additionalProperties: false, $id: 'WebsiteApplyPayload' },
  ),
  result: Type.Object(HostResult, { additionalProperties: false, $id: 'WebsiteApplyResult' }),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 120_000,
  // The publishers are the platform's layout, not the tenant's business.
  tenantView: ({ host, site: { publishers: _, ...site } }) => ({ host: hostName(host), site }),
});

export const websiteDelete = defineOperation({
  name: 'website.delete',
  summary: "Remove a website's vhost from one proxy host and reload; the document root goes too.",
  payload: Type.Object(
    { host: HostRef, layout: NginxLayout, site: Type.Object(SiteIdentity, { additionalProperties: false }) },
    { additionalProperties: false, $id: 'WebsiteDeletePayload' },
  ),
  result: Type.Object(HostResult, { additionalProperties: false, $id: 'WebsiteDeleteResult' }),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 120_000,
  tenantView: ({ host, site }) => ({ host: hostName(host), site }),
});

export const websiteDeploy = defineOperation({
  name: 'website.deploy',
  summary: "Replace a website's document root on one proxy host with an uploaded archive (by checksum from the content store).",
  payload: Type.Object(
    {
      host: HostRef,
      layout: NginxLayout,
      site: Type.Object(
        { id: SiteIdentity.id, key: SiteIdentity.key, owner: Type.Union([Type.String({ pattern: UNIX_USER }), Type.Null()]) },
        { additionalProperties: false },
      ),
      archive: Type.Object(
        { sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }), bytes: Type.Integer({ minimum: 1, maximum: 256 * 1024 * 1024 }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'WebsiteDeployPayload' },
  ),
  result: Type.Object(
    { host: Type.String(), files: Type.Integer(), bytes: Type.Integer() },
    { additionalProperties: false, $id: 'WebsiteDeployResult' },
  ),
  retry: { maxAttempts: 4, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 300_000,
  tenantView: ({ host, site, archive }) => ({ host: hostName(host), site, archive }),
});
