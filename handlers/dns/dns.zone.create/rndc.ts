/** Zones on a BIND primary through rndc: what `rndc addzone` cannot take from an UPDATE. */
import { isIPv4, isIPv6 } from 'node:net';
import { CommandError, sh, type Executor } from '../../../lib/exec/index.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { FQDN_PATTERN, HOST_PATH_PATTERN, KEY_NAME_PATTERN, type RecordSpecMessage, type ZoneServer } from '../../../queues/dns/ops.ts';
import { ZONE_PATTERN } from '../../../lib/dns/validate.ts';

/** Mutations of one server's zone set never interleave (several handler processes, one named). */
export const BIND_LOCK = 'dns-bind';

export function zoneFilePath(server: ZoneServer, zone: string): string {
  return `${server.zoneDir}/${zone}.zone`;
}

/**
 * The zone-config text `rndc addzone` parses. Only pattern-checked values go in, and they are
 * checked again here: this text is BIND syntax, where a quote or a brace would be code.
 */
export function zoneConfig(server: ZoneServer, zone: string): string {
  assertPattern(zone, ZONE_PATTERN, 'zone');
  assertPattern(zoneFilePath(server, zone), HOST_PATH_PATTERN, 'zone file path');
  assertPattern(server.keyName, KEY_NAME_PATTERN, 'key name');
  const key = `key "${server.keyName}";`;
  return `{ type primary; file "${zoneFilePath(server, zone)}"; allow-update { ${key} }; allow-transfer { ${key} }; };`;
}

/**
 * Default SOA and NS; an in-zone NS gets its address too, or BIND refuses to load the zone. `records`
 * (A/AAAA only: addresses kept for websites and proxy groups) go in as they are.
 */
export function zoneFileText(server: ZoneServer, zone: string, serial: number, records: readonly RecordSpecMessage[] = []): string {
  assertPattern(server.nameserver, FQDN_PATTERN, 'nameserver');
  const ns = server.nameserver;
  const lines = ['$TTL 3600', `@ IN SOA ${ns}. hostmaster.${zone}. ( ${serial} 3600 600 1209600 300 )`, `@ IN NS ${ns}.`];
  if (ns === zone || ns.endsWith(`.${zone}`)) lines.push(`${ns}. IN ${server.address.includes(':') ? 'AAAA' : 'A'} ${server.address}`);
  for (const record of records) {
    assertPattern(record.name, FQDN_PATTERN, 'record name');
    const address = record.address ?? '';
    if (!((record.type === 'A' && isIPv4(address)) || (record.type === 'AAAA' && isIPv6(address)))) {
      throw new PermanentError(`refusing ${record.type} ${address} for ${record.name} in a new zone file: only addresses go there`, {
        code: 'INVALID_INPUT',
      });
    }
    lines.push(`${record.name}. ${record.ttl} IN ${record.type} ${address}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function zoneLoaded(host: Executor, server: ZoneServer, zone: string, signal: AbortSignal): Promise<boolean> {
  const result = await host.run(sh`rndc -c ${server.rndcConf} zonestatus ${zone}`, { signal, okExitCodes: [0, 1] });
  if (result.exitCode === 0) return true;
  if (/not found|no matching zone/.test(result.stderr)) return false;
  throw new CommandError(
    { host: host.host, exitCode: result.exitCode, signal: null, stdout: result.stdout, stderr: result.stderr },
    'rndc zonestatus',
  );
}

/** rndc answers "already exists" / "not found" when the work is done already: that is success. */
export async function rndcIdempotent(host: Executor, command: ReturnType<typeof sh>, done: RegExp, signal: AbortSignal): Promise<boolean> {
  const result = await host.run(command, { signal, okExitCodes: [0, 1] });
  if (result.exitCode === 0) return true;
  if (done.test(result.stderr)) return false;
  throw new CommandError(
    { host: host.host, exitCode: result.exitCode, signal: null, stdout: result.stdout, stderr: result.stderr },
    'rndc',
  );
}

function assertPattern(value: string, pattern: string, what: string): void {
  if (!new RegExp(pattern).test(value) || /["{};\s\\]/.test(value))
    throw new PermanentError(`refusing ${what} "${value}" in a BIND config`, { code: 'INVALID_INPUT' });
}
