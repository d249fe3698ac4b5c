/**
 * Strict patterns for every value of a proxy group or a website that reaches a host, a
 * template or a command. Raw API input is checked by the schemas below (fastify → 400 naming
 * the field); `normalize*` then turns it into the canonical form templates see (punycode
 * domains, `[v6]:port` upstreams) and throws FieldError, again naming the field.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { Type } from 'typebox';

/** A value that passed the schema but not the deeper check; `field` is the JSON path. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
  }
}

/** One DNS label, RFC 1123 (letters, digits, inner hyphens). */
const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
/** A domain after punycode: at least two labels, a non-numeric top-level label. */
export const ASCII_DOMAIN = `^(${LABEL}\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`;
/** What the API accepts before punycode: letters of any script, digits, dots, hyphens; no `..`. */
const RAW_DOMAIN = '^(?!.*\\.\\.)[A-Za-z0-9\\u00a1-\\uffff][A-Za-z0-9.\\u00a1-\\uffff-]{0,252}$';

export const SITE_NAME = '^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$';
export const PROXY_NAME = '^[a-z][a-z0-9-]{0,30}[a-z0-9]$';
/** Users' names (issue 4) have no hyphen, so `<site>-<user>` splits back unambiguously. */
export const USER_NAME = '^[a-z][a-z0-9_]{0,31}$';
const IPV4 = '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV6 = '[0-9a-fA-F:.]{2,45}';
export const ADDRESS = `^(${IPV4}|${IPV6})$`;
export const UPSTREAM = `^(${IPV4}|\\[${IPV6}\\]):[0-9]{1,5}$`;
const SEGMENT = '[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,63}';
export const URL_PATH = `^(?!.*\\.\\.)/(${SEGMENT}(/${SEGMENT})*/?)?$`;
/** An absolute directory made of plain segments (no `.`/`..`, no spaces, no shell or nginx syntax). */
export const BASE_DIR = '^(?!.*\\.\\.)(/[A-Za-z0-9_][A-Za-z0-9._-]{0,63}){1,12}$';
export const BODY_SIZE = '^(0|[1-9][0-9]{0,5}[km]?|[1-9][0-9]?g)$';
export const REALM = '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$';
export const AUTH_USER = '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Header values: printable ASCII without quotes, backslash, `$`, `;`, `#`, braces, backtick or `..`. */
export const HEADER_VALUE = "^(?!.*\\.\\.)[A-Za-z0-9 _:/.,=*+()<>@?!%&\\[\\]|^~-]{1,512}$";
export const NGINX_USER = '^[a-z_][a-z0-9_-]{0,31}$';
export const HTPASSWD_HASH = '^\\$apr1\\$[./0-9A-Za-z]{1,8}\\$[./0-9A-Za-z]{22}$';

/** Response headers a site may add: security and caching headers, nothing that changes routing. */
export const HEADER_ALLOWLIST = [
  'Access-Control-Allow-Origin',
  'Cache-Control',
  'Content-Security-Policy',
  'Cross-Origin-Embedder-Policy',
  'Cross-Origin-Opener-Policy',
  'Cross-Origin-Resource-Policy',
  'Permissions-Policy',
  'Referrer-Policy',
  'Strict-Transport-Security',
  'X-Content-Type-Options',
  'X-Frame-Options',
  'X-Robots-Tag',
] as const;

export const ERROR_CODES = [400, 401, 403, 404, 405, 408, 410, 429, 500, 502, 503, 504] as const;

export const RawDomain = Type.String({ pattern: RAW_DOMAIN, maxLength: 253, description: 'a domain name; IDN accepted, stored as punycode' });
export const Domain = Type.String({ pattern: ASCII_DOMAIN, maxLength: 253 });

export const WebsiteRoute = Type.Object(
  {
    path: Type.String({ pattern: URL_PATH, maxLength: 256, description: 'requests under this path go to the upstream, e.g. /api' }),
    upstream: Type.String({ pattern: UPSTREAM, maxLength: 53, description: 'ip:port or [ipv6]:port' }),
    websocket: Type.Optional(Type.Boolean({ description: 'forward Upgrade/Connection for websockets' })),
  },
  { additionalProperties: false },
);

export const ResponseHeader = Type.Object(
  {
    name: Type.Enum([...HEADER_ALLOWLIST]),
    value: Type.String({ pattern: HEADER_VALUE, maxLength: 512 }),
  },
  { additionalProperties: false },
);

export const ErrorPage = Type.Object(
  {
    code: Type.Enum([...ERROR_CODES]),
    path: Type.String({ pattern: URL_PATH, maxLength: 256, description: 'a file of the document root, e.g. /404.html' }),
  },
  { additionalProperties: false },
);

export const WwwRedirect = Type.Union([Type.Literal('none'), Type.Literal('to-apex'), Type.Literal('to-www')], {
  description: 'redirect www.<primary> to <primary> (to-apex) or the reverse (to-www)',
});

/** The parts of a site every write shares (create takes all, edit any). */
const WebsiteFields = {
  domains: Type.Array(RawDomain, { maxItems: 50, uniqueItems: true, description: 'the primary domain first, then aliases' }),
  static: Type.Boolean({ description: 'serve the document root for paths no route claims (default true)' }),
  routes: Type.Array(WebsiteRoute, { maxItems: 50 }),
  maxBodySize: Type.String({ pattern: BODY_SIZE, description: 'client_max_body_size, e.g. 10m (0 = unlimited)' }),
  basicAuth: Type.Union([
    Type.Null(),
    Type.Object(
      {
        realm: Type.String({ pattern: REALM }),
        users: Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: AUTH_USER }),
              password: Type.String({ pattern: '^[\\x20-\\x7e]{8,256}$', description: 'hashed (apr1) by the gateway; never stored or sent' }),
            },
            { additionalProperties: false },
          ),
          { minItems: 1, maxItems: 100 },
        ),
      },
      { additionalProperties: false },
    ),
  ]),
  errorPages: Type.Array(ErrorPage, { maxItems: ERROR_CODES.length }),
  headers: Type.Array(ResponseHeader, { maxItems: HEADER_ALLOWLIST.length }),
  wwwRedirect: WwwRedirect,
  httpsRedirect: Type.Boolean({ description: 'HTTP → HTTPS; takes effect once the site has a certificate' }),
};

export const WebsiteCreate = Type.Object(
  {
    name: Type.String({ pattern: SITE_NAME, description: 'unique per user; the temporary subdomain is <name>-<user>.<wildcard>' }),
    proxy: Type.String({ pattern: PROXY_NAME }),
    ...Object.fromEntries(Object.entries(WebsiteFields).map(([k, v]) => [k, Type.Optional(v)])),
  } as { name: typeof Domain; proxy: typeof Domain } & { [K in keyof typeof WebsiteFields]: ReturnType<typeof Type.Optional<(typeof WebsiteFields)[K]>> },
  { additionalProperties: false, $id: 'WebsiteCreate' },
);

export const WebsiteEdit = Type.Object(
  Object.fromEntries(Object.entries(WebsiteFields).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof typeof WebsiteFields]: ReturnType<typeof Type.Optional<(typeof WebsiteFields)[K]>>;
  },
  { additionalProperties: false, $id: 'WebsiteEdit', minProperties: 1 },
);

export const ProxyCreate = Type.Object(
  {
    name: Type.String({ pattern: PROXY_NAME }),
    wildcardDomain: Type.String({ pattern: ASCII_DOMAIN, maxLength: 200, description: 'p1.example.net serves *.p1.example.net' }),
    addresses: Type.Array(Type.String({ pattern: ADDRESS, maxLength: 45 }), { minItems: 1, maxItems: 16, uniqueItems: true, description: 'public IPv4/IPv6 addresses' }),
    baseDir: Type.Optional(Type.String({ pattern: BASE_DIR, maxLength: 256, description: "up's nginx directory on every member (default /srv/up/nginx)" })),
    httpPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 80' })),
    httpsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 443' })),
    nginxUser: Type.Optional(Type.String({ pattern: NGINX_USER, description: "nginx workers' user (default www-data)" })),
  },
  { additionalProperties: false, $id: 'ProxyCreate' },
);

/** Lower case, no trailing dot, punycode; FieldError unless the result is an RFC 1123 name. */
export function normalizeDomain(raw: string, field: string): string {
  const ascii = domainToASCII(raw.trim().toLowerCase().replace(/\.$/, ''));
  if (!ascii || ascii.length > 253 || !new RegExp(ASCII_DOMAIN).test(ascii)) throw new FieldError(field, 'is not a valid domain name');
  return ascii;
}

export function isUnderDomain(name: string, parent: string): boolean {
  return name === parent || name.endsWith(`.${parent}`);
}

/** `ip:port` checked for real (net.isIP) and kept off the proxy's own loopback and link-local services. */
export function normalizeUpstream(raw: string, field: string): string {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]{1,5})$/.exec(raw);
  const port = Number(match?.[3]);
  const v6 = match?.[1];
  const v4 = match?.[2];
  if (!match || port < 1 || port > 65535) throw new FieldError(field, 'must be ip:port or [ipv6]:port');
  if (v4 !== undefined && !isIPv4(v4)) throw new FieldError(field, 'has an invalid IPv4 address');
  if (v6 !== undefined && !isIPv6(v6)) throw new FieldError(field, 'has an invalid IPv6 address');
  const address = (v4 ?? v6!).toLowerCase();
  if (/^(127\.|0\.|169\.254\.)/.test(address) || ['::', '::1'].includes(address) || /^fe[89ab]/.test(address)) {
    throw new FieldError(field, "must not point at the proxy's own loopback or link-local addresses");
  }
  return v6 !== undefined ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Route paths as nginx prefixes: `/api` → `/api/`, so `/apiary` is not routed to the API. */
export function normalizeRoutePath(path: string, field: string): string {
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) throw new FieldError(field, 'must not contain . or .. segments');
  return path.endsWith('/') ? path : `${path}/`;
}

export function checkAddress(raw: string, field: string): string {
  if (!isIPv4(raw) && !isIPv6(raw)) throw new FieldError(field, 'is not an IPv4 or IPv6 address');
  return raw.toLowerCase();
}
