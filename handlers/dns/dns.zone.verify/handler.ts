import { axfr, sendUpdate } from '../../../lib/dns/client.ts';
import { buildUpdate } from '../../../lib/dns/update.ts';
import { dnsZoneVerify } from '../../../queues/dns/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { loadTsigKey } from '../keys.ts';
import { soaSerial } from '../dns.records.apply/soa-serial.ts';
import { inZoneOrder } from '../dns.records.apply/zone-turns.ts';
import { compareZone } from './compare.ts';
import { presentValue, type RecordSpec } from '../../../lib/dns/validate.ts';
import { applyInParts } from './apply-parts.ts';

export default defineHandler({
  op: dnsZoneVerify,
  // A repair computed from a transfer must not cross a records job of the same zone.
  run: ({ zone, server, expected, repair }, { log, signal }) =>
    inZoneOrder(zone, async () => {
      signal.throwIfAborted();
      const key = await loadTsigKey(server.keyName, server.algorithm);
      const records = await axfr(server, zone, key, { timeoutMs: 30_000 });
      let serial = (records[0]?.data as { serial?: number } | undefined)?.serial ?? 0;
      const { missing, unexpected, changes } = compareZone(zone, server.nameserver, records, expected);
      if (missing.length || unexpected.length)
        log.warn({ zone, missing: missing.length, unexpected: unexpected.length }, 'zone differs from its records');
      let repaired = repair && changes.length > 0;
      let refused: typeof missing = [];
      if (repaired) {
        const send = async (part: typeof changes) =>
          void (await sendUpdate(server, buildUpdate({ zone, changes: part }), key, { timeoutMs: 10_000 }));
        try {
          await send(changes);
        } catch (error) {
          if ((error as { code?: string }).code !== 'REFUSED') throw error;
          const parts = await applyInParts(changes, send);
          refused = parts.refused.flatMap((change) =>
            change.op === 'add'
              ? [
                  {
                    name: change.record.name,
                    ttl: change.record.ttl,
                    type: change.record.type,
                    value: presentValue(change.record as RecordSpec),
                  },
                ]
              : [],
          );
          repaired = parts.applied > 0;
          log.warn({ zone, refused: refused.length, applied: parts.applied }, 'the server refused part of the repair');
        }
        serial = await soaSerial(server, zone);
      }
      return { zone, serial, missing, unexpected, repaired, ...(refused.length ? { refused } : {}) };
    }),
});
