/**
 * IP addresses as values, not text: one strict spelling in, one canonical spelling out, and
 * every IPv4 address an IPv6 literal carries. Upstream checks (lib/validate/upstream.ts)
 * compare these, so `[::ffff:7f00:1]`, `[0:0:0:0:0:0:0:1]` and `127.0.0.1` are the same thing.
 */
import { BlockList, SocketAddress, isIPv4, isIPv6 } from 'node:net';

export interface Address {
  family: 4 | 6;
  /** Dotted decimal, or RFC 5952 (lower case, zeros compressed); IPv4-mapped IPv6 is its IPv4 address. */
  text: string;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/**
 * Strict parse: IPv4 only as four decimal octets without leading zeros (no `0177.0.0.1`,
 * `2130706433`, `0x7f.1`, `127.1`), IPv6 as RFC 4291 text without a scope id (`%eth0`).
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d` in any spelling) becomes the IPv4 address it maps.
 * Null when the text is not an address.
 */
export function parseAddress(raw: string): Address | null {
  if (isIPv4(raw)) return { family: 4, text: raw, bytes: Uint8Array.from(raw.split('.').map(Number)) };
  if (raw.includes('%') || !isIPv6(raw)) return null;
  const bytes = ipv6Bytes(raw);
  if (isMapped(bytes)) return fromV4Bytes(bytes.subarray(12));
  return { family: 6, text: new SocketAddress({ address: raw, family: 'ipv6' }).address, bytes };
}

const fromV4Bytes = (b: Uint8Array): Address => ({ family: 4, text: [...b].join('.'), bytes: Uint8Array.from(b) });

/** 16 bytes of an address that passed net.isIPv6 (a trailing dotted quad included). */
function ipv6Bytes(text: string): Uint8Array {
  let s = text.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = s.split('::');
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

const zeros = (b: Uint8Array, from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
const isMapped = (b: Uint8Array) => zeros(b, 0, 10) && b[10] === 0xff && b[11] === 0xff;
const v4At = (b: Uint8Array, at: number) => [...b.subarray(at, at + 4)].join('.');

/** One way an IPv6 address can stand for an IPv4 one; `refused` where the IPv4 part cannot be told. */
interface Embedding {
  name: string;
  matches(b: Uint8Array): boolean;
  ipv4(b: Uint8Array): string[];
  refused?: string;
}

/**
 * Every scheme by which an IPv6 literal reaches an IPv4 address (besides IPv4-mapped, which
 * parseAddress already turned into IPv4). A translator, tunnel or relay on the proxy's path
 * would connect to the IPv4 address, so it is checked as if it had been written.
 */
const EMBEDDINGS: Embedding[] = [
  // ::a.b.c.d (RFC 4291 §2.5.5.1, deprecated): no use today, and :: and ::1 live here.
  {
    name: 'IPv4-compatible (::/96)',
    matches: (b) => zeros(b, 0, 12),
    ipv4: (b) => [v4At(b, 12)],
    refused: 'IPv4-compatible addresses (::a.b.c.d) are not accepted',
  },
  // ::ffff:0:a.b.c.d (RFC 2765 SIIT IPv4-translated).
  {
    name: 'IPv4-translated (::ffff:0:0:0/96)',
    matches: (b) => zeros(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(b, 10, 12),
    ipv4: (b) => [v4At(b, 12)],
  },
  // 64:ff9b::a.b.c.d (RFC 6052 well-known NAT64 prefix).
  { name: 'NAT64 (64:ff9b::/96)', matches: (b) => hex(b, 0, 4) === '0064ff9b' && zeros(b, 4, 12), ipv4: (b) => [v4At(b, 12)] },
  // 64:ff9b:1::/48 (RFC 8215 local-use NAT64): the prefix length, hence where the IPv4 address sits, is the network's choice.
  {
    name: 'local NAT64 (64:ff9b:1::/48)',
    matches: (b) => hex(b, 0, 6) === '0064ff9b0001',
    ipv4: () => [],
    refused: 'local-use NAT64 addresses (64:ff9b:1::/48) are not accepted',
  },
  // 2002:aabb:ccdd::/48 (RFC 3056 6to4): the relay's IPv4 address in bits 16–47.
  { name: '6to4 (2002::/16)', matches: (b) => b[0] === 0x20 && b[1] === 0x02, ipv4: (b) => [v4At(b, 2)] },
  // 2001:0::/32 (RFC 4380 Teredo): the server in bits 32–63, the client (inverted) in the last 32.
  {
    name: 'Teredo (2001::/32)',
    matches: (b) => hex(b, 0, 4) === '20010000',
    ipv4: (b) => [v4At(b, 4), [...b.subarray(12)].map((x) => x ^ 0xff).join('.')],
  },
  // ISATAP interface identifiers (RFC 5214): ::0:5efe:a.b.c.d or ::200:5efe:a.b.c.d under any /64.
  { name: 'ISATAP', matches: (b) => (b[8] & 0xfd) === 0 && b[9] === 0 && b[10] === 0x5e && b[11] === 0xfe, ipv4: (b) => [v4At(b, 12)] },
];

const hex = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('hex');

/** The IPv4 addresses an IPv6 address embeds, or a refusal where the scheme leaves them unknown. */
export function embeddedIPv4(address: Address): { ipv4: string[]; refused: string | null } {
  if (address.family === 4) return { ipv4: [], refused: null };
  const found = EMBEDDINGS.filter((e) => e.matches(address.bytes));
  const refused = found.find((e) => e.refused)?.refused ?? null;
  return { ipv4: [...new Set(found.flatMap((e) => e.ipv4(address.bytes)))], refused };
}

/** An address and its prefix length, canonical (`10.0.0.0/8`, `fd00::/8`). */
export interface Network {
  address: Address;
  prefix: number;
  text: string;
}

/**
 * `a.b.c.d/n` or `v6/n` (a bare address is its /32 or /128); IPv4-mapped networks become
 * IPv4 ones. Host bits must be clear. What is wrong, as a phrase, when it is not a network.
 */
export function parseNetwork(raw: string): Network | string {
  const [addressText, prefixText, extra] = raw.split('/');
  const address = parseAddress(addressText ?? '');
  if (!address || extra !== undefined) return 'is not an address or CIDR network';
  const mappedV6 = address.family === 4 && isIPv6(addressText);
  const max = address.family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return 'has an invalid prefix length';
    prefix = Number(prefixText) - (mappedV6 ? 96 : 0);
    if (prefix < 0 || prefix > max)
      return `has a prefix length outside 0–${mappedV6 ? 128 : max}${mappedV6 ? ' (an IPv4-mapped network needs 96 or more)' : ''}`;
  }
  if (!hostBitsClear(address.bytes, prefix)) return `has host bits set (the network of ${address.text}/${prefix} starts lower)`;
  return { address, prefix, text: `${address.text}/${prefix}` };
}

function hostBitsClear(bytes: Uint8Array, prefix: number): boolean {
  return bytes.every((byte, i) => {
    const kept = Math.max(0, Math.min(8, prefix - 8 * i));
    return (byte & (0xff >> kept)) === 0;
  });
}

/** A set of networks (net.BlockList underneath), matched against canonical addresses. */
export class NetworkSet {
  private readonly list = new BlockList();
  readonly networks: string[] = [];

  constructor(networks: Iterable<string | Network> = []) {
    for (const n of networks) this.add(n);
  }

  add(network: string | Network): this {
    const parsed = typeof network === 'string' ? parseNetwork(network) : network;
    if (typeof parsed === 'string') throw new Error(`${network} ${parsed}`);
    this.list.addSubnet(parsed.address.text, parsed.prefix, parsed.address.family === 4 ? 'ipv4' : 'ipv6');
    this.networks.push(parsed.text);
    return this;
  }

  has(address: Address | string): boolean {
    const a = typeof address === 'string' ? parseAddress(address) : address;
    return a !== null && this.list.check(a.text, a.family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * Where an upstream may never point, whatever the proxy group allows: the proxy's own
 * loopback, "this host" (0.0.0.0/8 and :: reach local services on Linux), link-local (cloud
 * metadata at 169.254.169.254 included), the metadata services that live elsewhere, multicast,
 * broadcast and reserved space.
 */
export const BLOCKED_NETWORKS = new NetworkSet([
  '0.0.0.0/8',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '100.100.100.200/32', // Alibaba Cloud metadata
  'fd00:ec2::254/128', // AWS metadata over IPv6
  '224.0.0.0/4',
  '240.0.0.0/4', // reserved, 255.255.255.255 included
  '::/128',
  '::1/128',
  'fe80::/10',
  'fec0::/10', // site-local, deprecated but still routed by some stacks
  'ff00::/8',
]);

/** Why an address can never be an upstream (also through an IPv4 address it embeds), or null. */
export function blockedReason(address: Address): string | null {
  if (BLOCKED_NETWORKS.has(address))
    return `${address.text} is a loopback, link-local, metadata, multicast, unspecified or reserved address`;
  const { ipv4, refused } = embeddedIPv4(address);
  if (refused) return refused;
  const inner = ipv4.find((v4) => BLOCKED_NETWORKS.has(v4));
  return inner ? `${address.text} embeds ${inner}, a loopback, link-local, metadata, multicast, unspecified or reserved address` : null;
}
