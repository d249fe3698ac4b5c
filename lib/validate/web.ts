/**
 * Strict patterns for every value of a proxy group or a website that reaches a host, a
 * template or a command. Raw API input is checked by the schemas below (fastify → 400 naming
 * the field); `normalize*` then turns it into the canonical form templates see (punycode
 * domains, `[v6]:port` upstreams) and throws InputError, again naming the field.
 */
import { domainToASCII } from 'node:url';
import { getPublicSuffix } from 'tldts';
import { Type, type Static } from 'typebox';
import { blockedReason, parseAddress, parseNetwork } from './address.ts';
import { formatEndpoint, parseEndpoint } from './upstream.ts';
import { CONTAINER_NAME } from './containers.ts';
import { InputError } from '../errors.ts';

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
export const NETWORK = `^(${IPV4}|${IPV6})(/[0-9]{1,3})?$`;
export const UPSTREAM = `^(${IPV4}|\\[${IPV6}\\]):[0-9]{1,5}$`;
const SEGMENT = '[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,63}';
export const URL_PATH = `^(?!.*\\.\\.)/(${SEGMENT}(/${SEGMENT})*/?)?$`;
/** An absolute directory made of plain segments (no `.`/`..`, no spaces, no shell or nginx syntax). */
export const BASE_DIR = '^(?!.*\\.\\.)(/[A-Za-z0-9_][A-Za-z0-9._-]{0,63}){1,12}$';
export const BODY_SIZE = '^(0|[1-9][0-9]{0,5}[km]?|[1-9][0-9]?g)$';
export const REALM = '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$';
export const AUTH_USER = '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Header values: printable ASCII without quotes, backslash, `$`, `;`, `#`, braces, backtick or `..`. */
export const HEADER_VALUE = '^(?!.*\\.\\.)[A-Za-z0-9 _:/.,=*+()<>@?!%&\\[\\]|^~-]{1,512}$';
export const NGINX_USER = '^[a-z_][a-z0-9_-]{0,31}$';
/** SHA-512-crypt (what the gateway writes), or apr1 (what it wrote before: kept valid, nginx reads both). */
export const HTPASSWD_HASH =
  '^(\\$6\\$(rounds=[0-9]{4,9}\\$)?[./0-9A-Za-z]{1,16}\\$[./0-9A-Za-z]{86}|\\$apr1\\$[./0-9A-Za-z]{1,8}\\$[./0-9A-Za-z]{22})$';

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

export const RawDomain = Type.String({
  pattern: RAW_DOMAIN,
  maxLength: 253,
  description: 'a domain name; IDN accepted, stored as punycode',
});
export const Domain = Type.String({ pattern: ASCII_DOMAIN, maxLength: 253 });

/**
 * One of the site owner's containers by name and the port it publishes: `up` resolves it to the
 * host's publish address and the host port it allocated, and re-renders the vhost when that changes.
 */
export const ContainerUpstream = Type.Object(
  {
    container: Type.String({ pattern: CONTAINER_NAME, description: 'one of your containers' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'a container port it publishes' }),
  },
  { additionalProperties: false },
);
export type ContainerUpstream = Static<typeof ContainerUpstream>;

export const WebsiteRoute = Type.Object(
  {
    path: Type.String({ pattern: URL_PATH, maxLength: 256, description: 'requests under this path go to the upstream, e.g. /api' }),
    upstream: Type.Union([Type.String({ pattern: UPSTREAM, maxLength: 53, description: 'ip:port or [ipv6]:port' }), ContainerUpstream]),
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
  staticPaths: Type.Array(Type.String({ pattern: URL_PATH, maxLength: 256 }), {
    maxItems: 20,
    uniqueItems: true,
    description: 'paths served from the document root even under a routed path, e.g. /static/ of an app whose / goes to a container',
  }),
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
              password: Type.String({
                pattern: '^[\\x20-\\x7e]{8,256}$',
                description: 'hashed (SHA-512-crypt) by the gateway; never stored or sent',
              }),
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
  } as { name: typeof Domain; proxy: typeof Domain } & {
    [K in keyof typeof WebsiteFields]: ReturnType<typeof Type.Optional<(typeof WebsiteFields)[K]>>;
  },
  {
    additionalProperties: false,
    $id: 'WebsiteCreate',
    examples: [
      {
        name: 'shop',
        proxy: 'p1',
        domains: ['www.example.net', 'example.net'],
        routes: [{ path: '/api', upstream: '198.51.100.20:8080' }],
        wwwRedirect: 'to-www',
        httpsRedirect: true,
      },
    ],
  },
);

export const WebsiteEdit = Type.Object(
  Object.fromEntries(Object.entries(WebsiteFields).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof typeof WebsiteFields]: ReturnType<typeof Type.Optional<(typeof WebsiteFields)[K]>>;
  },
  {
    additionalProperties: false,
    $id: 'WebsiteEdit',
    minProperties: 1,
    examples: [{ maxBodySize: '10m', errorPages: [{ code: 404, path: '/404.html' }] }],
  },
);

const UpstreamNetworks = Type.Union(
  [Type.Null(), Type.Array(Type.String({ pattern: NETWORK, maxLength: 49 }), { maxItems: 64, uniqueItems: true })],
  {
    description:
      "CIDR networks (e.g. 10.20.0.0/16, fd00:20::/48) every website's upstreams on this group must lie in; null or absent: anywhere " +
      "except the proxy itself, loopback/link-local/special addresses, managed hosts' SSH and UP_UPSTREAM_DENY",
  },
);

export const ProxyCreate = Type.Object(
  {
    name: Type.String({ pattern: PROXY_NAME }),
    wildcardDomain: Type.String({ pattern: ASCII_DOMAIN, maxLength: 200, description: 'p1.example.net serves *.p1.example.net' }),
    addresses: Type.Array(Type.String({ pattern: ADDRESS, maxLength: 45 }), {
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      description: 'public IPv4/IPv6 addresses',
    }),
    baseDir: Type.Optional(
      Type.String({ pattern: BASE_DIR, maxLength: 256, description: "up's nginx directory on every member (default /srv/up/nginx)" }),
    ),
    httpPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 80' })),
    httpsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 443' })),
    nginxUser: Type.Optional(Type.String({ pattern: NGINX_USER, description: "nginx workers' user (default www-data)" })),
    upstreamNetworks: Type.Optional(UpstreamNetworks),
  },
  {
    additionalProperties: false,
    $id: 'ProxyCreate',
    examples: [{ name: 'p1', wildcardDomain: 'p1.example.net', addresses: ['192.0.2.10'], upstreamNetworks: ['198.51.100.0/24'] }],
  },
);

export const ProxyEdit = Type.Object(
  { upstreamNetworks: UpstreamNetworks },
  {
    additionalProperties: false,
    $id: 'ProxyEdit',
    minProperties: 1,
    examples: [{ upstreamNetworks: ['198.51.100.0/24', '203.0.113.0/24'] }],
  },
);

/** Lower case, no trailing dot, punycode; InputError unless the result is an RFC 1123 name. */
export function normalizeDomain(raw: string, field: string): string {
  const ascii = domainToASCII(raw.trim().toLowerCase().replace(/\.$/, ''));
  if (!ascii || ascii.length > 253 || !new RegExp(ASCII_DOMAIN).test(ascii)) throw new InputError(field, 'is not a valid domain name');
  return ascii;
}

/** co.uk, github.io, …: names the Public Suffix List (ICANN and private sections) says many unrelated owners share. */
export function isPublicSuffix(name: string): boolean {
  return getPublicSuffix(name, { allowPrivateDomains: true }) === name;
}

export function isUnderDomain(name: string, parent: string): boolean {
  return name === parent || name.endsWith(`.${parent}`);
}

/**
 * `ip:port` parsed for real (lib/validate/address.ts) and returned in its one canonical
 * spelling; never the proxy's own loopback, link-local or special addresses, in any spelling
 * or embedded in IPv6. Where else it may not point depends on the group and the inventory:
 * upstreamRefusal (lib/validate/upstream.ts).
 */
export function normalizeUpstream(raw: string, field: string): string {
  const endpoint = parseEndpoint(raw);
  if (typeof endpoint === 'string') throw new InputError(field, endpoint);
  const blocked = blockedReason(endpoint.address);
  if (blocked) throw new InputError(field, `must not point at the proxy's own loopback, link-local or special addresses: ${blocked}`);
  return formatEndpoint(endpoint);
}

/** Route paths as nginx prefixes: `/api` → `/api/`, so `/apiary` is not routed to the API. */
export function normalizeRoutePath(path: string, field: string): string {
  if (path.split('/').some((segment) => segment === '.' || segment === '..'))
    throw new InputError(field, 'must not contain . or .. segments');
  return path.endsWith('/') ? path : `${path}/`;
}

/** An address in its canonical spelling (no scope ids; IPv4-mapped IPv6 as IPv4). */
export function checkAddress(raw: string, field: string): string {
  const address = parseAddress(raw);
  if (!address) throw new InputError(field, 'is not an IPv4 or IPv6 address');
  return address.text;
}

/** A CIDR network in its canonical spelling (`10.0.0.0/8`); host bits must be clear. */
export function normalizeNetwork(raw: string, field: string): string {
  const network = parseNetwork(raw);
  if (typeof network === 'string') throw new InputError(field, network);
  return network.text;
}
