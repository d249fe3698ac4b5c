/**
 * Where a website's routes may send requests. The address is parsed and compared as a value
 * (lib/validate/address.ts), never as text; the same policy runs in the gateway (with the
 * inventory: managed hosts, the group's addresses and networks) and again in website.apply
 * (with what the message carries), so a stored or replayed route cannot slip past it.
 */
import { isIPv4 } from 'node:net';
import { PUBLISHED_PORT_RANGE } from './containers.ts';
import { blockedReason, embeddedIPv4, NetworkSet, parseAddress, parseNetwork, type Address } from './address.ts';

export interface Endpoint {
  address: Address;
  port: number;
}

/** `a.b.c.d:port` or `[v6]:port`, strictly; what is wrong as a phrase when it is not. */
export function parseEndpoint(raw: string): Endpoint | string {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(raw);
  if (!match) return 'must be ip:port or [ipv6]:port';
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return 'has a port outside 1–65535';
  const text = match[1] ?? match[2];
  if (match[1] !== undefined && isIPv4(text)) return 'must not bracket an IPv4 address: ip:port';
  const address = parseAddress(text);
  if (!address)
    return match[1] !== undefined
      ? 'has an invalid IPv6 address (no scope ids)'
      : 'has an invalid IPv4 address (four decimal octets, no leading zeros)';
  if (match[2] !== undefined && address.family !== 4) return 'must bracket an IPv6 address: [ipv6]:port';
  return { address, port };
}

/** The one spelling nginx sees and the database keeps. */
export const formatEndpoint = ({ address, port }: Endpoint) =>
  address.family === 6 ? `[${address.text}]:${port}` : `${address.text}:${port}`;

/** The address itself and every IPv4 address it embeds (NAT64, 6to4, Teredo, ...). */
const reachable = (address: Address): string[] => [address.text, ...embeddedIPv4(address).ipv4];

/** `address:port` (`[v6]:port`) of a container's published port: where nginx, and the app check, reach it. */
export const publishedEndpoint = (p: { address: string; host: number }) =>
  p.address.includes(':') ? `[${p.address}]:${p.host}` : `${p.address}:${p.host}`;

/** Networks and single endpoints that are the control plane's own (UP_UPSTREAM_DENY, managed hosts' SSH). */
export class DenyList {
  readonly networks = new NetworkSet();
  readonly endpoints = new Set<string>();

  /** Endpoints given as address and port (addresses that do not parse are left out). */
  static ofEndpoints(endpoints: { address: string; port: number }[]): DenyList {
    const list = new DenyList();
    for (const { address, port } of endpoints) {
      const parsed = parseAddress(address);
      if (parsed) list.endpoints.add(formatEndpoint({ address: parsed, port }));
    }
    return list;
  }

  /** Comma-separated CIDRs, addresses, `ip:port` or `[ipv6]:port`; throws naming the bad entry. */
  static parse(value: string | undefined, name = 'UP_UPSTREAM_DENY'): DenyList {
    const list = new DenyList();
    for (const entry of (value ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const network = parseNetwork(entry);
      if (typeof network !== 'string') {
        list.networks.add(network);
        continue;
      }
      const endpoint = parseEndpoint(entry);
      if (typeof endpoint === 'string')
        throw new Error(
          `${name} must be a comma-separated list of CIDRs, addresses, ip:port or [ipv6]:port (bad entry "${entry}": ${network})`,
        );
      list.endpoints.add(formatEndpoint(endpoint));
    }
    return list;
  }

  has({ address, port }: Endpoint): boolean {
    return reachable(address).some((a) => this.networks.has(a) || this.endpoints.has(formatEndpoint({ address: parseAddress(a)!, port })));
  }
}

let cached: { value: string | undefined; list: DenyList } | null = null;

/** UP_UPSTREAM_DENY of this process (gateway and website.apply handlers read the same variable). */
export function upstreamDenyList(env: NodeJS.ProcessEnv = process.env): DenyList {
  const value = env.UP_UPSTREAM_DENY;
  if (!cached || cached.value !== value) cached = { value, list: DenyList.parse(value) };
  return cached.list;
}

export interface UpstreamPolicy {
  /** The proxy's own addresses: nothing on them is a tenant's upstream, whatever the port. */
  self: NetworkSet;
  /** The control plane: managed hosts' SSH endpoints, UP_UPSTREAM_DENY. */
  deny: DenyList[];
  /** The proxy group's upstream networks; null: anywhere not refused above. */
  allowed: NetworkSet | null;
  /**
   * Where containers hosts publish (their publish addresses and addresses): the published range
   * there belongs to tenants' containers, reached only by routes that name a container (the
   * owner's own), never by an address another tenant writes.
   */
  publishers?: NetworkSet;
}

const inPublishedRange = (port: number) => port >= PUBLISHED_PORT_RANGE.first && port <= PUBLISHED_PORT_RANGE.last;

/**
 * Why this endpoint may not be an upstream under the policy, or null. Says nothing of the
 * control plane's layout. `published`: the caller resolved this exact endpoint from a port `up`
 * allocated to one of the site owner's own containers (PUBLISHED_PORT_RANGE); that one port on a
 * managed host (a proxy member that also runs containers) is the tenant's, so the proxy-hosts
 * check lets it through. Everything else still applies: special addresses, the platform's own
 * services (SSH, UP_UPSTREAM_DENY) and the group's networks. An address a tenant writes
 * (`published` false) never reaches the published range of a containers host: another tenant's
 * container may be there.
 */
export function upstreamRefusal(endpoint: Endpoint, policy: UpstreamPolicy, published = false): string | null {
  const blocked = blockedReason(endpoint.address);
  if (blocked) return `must not point at the proxy's own loopback, link-local or special addresses: ${blocked}`;
  if (published && !inPublishedRange(endpoint.port))
    return `is not a port up publishes containers on (${PUBLISHED_PORT_RANGE.first}-${PUBLISHED_PORT_RANGE.last})`;
  if (!published && reachable(endpoint.address).some((a) => policy.self.has(a)))
    return `must not point at the proxy hosts themselves (${endpoint.address.text})`;
  if (!published && inPublishedRange(endpoint.port) && reachable(endpoint.address).some((a) => policy.publishers?.has(a)))
    return 'is a port up publishes containers on: name your container instead ({"container": name, "port": its port})';
  if (policy.deny.some((list) => list.has(endpoint)))
    return `must not point at the hosting platform's own services (${formatEndpoint(endpoint)})`;
  if (policy.allowed && !policy.allowed.has(endpoint.address)) {
    return `must lie in the networks this proxy group allows for upstreams (${policy.allowed.networks.join(', ') || 'none'})`;
  }
  return null;
}
