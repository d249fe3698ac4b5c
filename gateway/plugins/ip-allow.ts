import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1` (a v4 client on a dual-stack socket) is 10.0.0.1. */
export const normalizeIp = (ip: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip);

/** Null when `cidr` is a valid IPv4 or IPv6 subnet, else what is wrong with it. */
export function cidrProblem(cidr: string): string | null {
  const [address, prefix, ...rest] = cidr.split('/');
  const family = isIP(address ?? '');
  if (rest.length > 0 || family === 0) return `${cidr} is not an IPv4 or IPv6 address with a /prefix`;
  const bits = Number(prefix);
  if (prefix === undefined || !/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) return `${cidr} has no valid prefix length`;
  return null;
}

/** True when the token has no allowlist or `ip` is inside one of its subnets. */
export function addressAllowed(allowFrom: readonly string[], ip: string): boolean {
  if (allowFrom.length === 0) return true;
  const address = normalizeIp(ip);
  const family = isIP(address);
  if (family === 0) return false;
  const list = new BlockList();
  for (const cidr of allowFrom) {
    const [net, prefix] = cidr.split('/');
    const netFamily = isIP(net);
    if (netFamily === 0) continue;
    list.addSubnet(net, Number(prefix), netFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** True when every address of the subnet `inner` lies in the subnet `outer` (both valid CIDRs, same family). */
export function subnetInside(inner: string, outer: string): boolean {
  const [innerNet, innerPrefix] = inner.split('/');
  const [outerNet, outerPrefix] = outer.split('/');
  const family = isIP(innerNet);
  if (family === 0 || family !== isIP(outerNet) || Number(innerPrefix) < Number(outerPrefix)) return false;
  // With a prefix at least as long, the whole inner subnet shares its first address's leading bits.
  const list = new BlockList();
  list.addSubnet(outerNet, Number(outerPrefix), family === 4 ? 'ipv4' : 'ipv6');
  return list.check(innerNet, family === 4 ? 'ipv4' : 'ipv6');
}
