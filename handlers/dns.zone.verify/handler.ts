import { axfr, sendUpdate } from '../../lib/dns/client.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import { dnsZoneVerify } from '../../queues/ops/dns.ts';
import { defineHandler } from '../define.ts';
import { loadTsigKey } from '../dns-keys.ts';
import { soaSerial } from '../dns.records.apply/soa-serial.ts';
import { inZoneOrder } from '../dns.records.apply/zone-turns.ts';
import { compareZone } from './compare.ts';

export default defineHandler({
  op: dnsZoneVerify,
  // A repair computed from a transfer must not cross a records job of the same zone.
  run: ({ zone, server, expected, repair }, { log, signal }) => inZoneOrder(zone, async () => {
    signal.throwIfAborted();
    const key = await loadTsigKey(server.keyName, server.algorithm);
    const records = await axfr(server, zone, key, { timeoutMs: 30_000 });
    let serial = (records[0]?.data as { serial?: number } | undefined)?.serial ?? 0;
    const { missing, unexpected, changes } = compareZone(zone, server.nameserver, records, expected);
    if (missing.length || unexpected.length) log.warn({ zone, missing: missing.length, unexpected: unexpected.length }, 'zone differs from its records');
    const repaired = repair && changes.length > 0;
    if (repaired) {
      await sendUpdate(server, buildUpdate({ zone, changes }), key, { timeoutMs: 10_000 });
      serial = await soaSerial(server, zone);
    }
    return { zone, serial, missing, unexpected, repaired };
  }),
});
