import { sendUpdate } from '../../../lib/dns/client.ts';
import { buildUpdate } from '../../../lib/dns/update.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { dnsRecordsApply } from '../../../queues/dns/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { loadTsigKey } from '../keys.ts';
import { updateOf } from './changes.ts';
import { soaSerial } from './soa-serial.ts';
import { inZoneOrder } from './zone-turns.ts';
import { explainRefusal } from './refusal.ts';

export default defineHandler({
  op: dnsRecordsApply,
  // The turn is taken before anything awaits, so jobs keep the order they arrived in.
  run: ({ zone, server, changes }, { signal }) =>
    inZoneOrder(zone, async () => {
      signal.throwIfAborted(); // timed out while waiting for its turn: the retry takes a new one
      const key = await loadTsigKey(server.keyName, server.algorithm);
      const update = updateOf(changes);
      let transport: string;
      try {
        ({ transport } = await sendUpdate(server, buildUpdate({ zone, ...update }), key, { timeoutMs: 10_000 }));
      } catch (error) {
        if ((error as { code?: string }).code === 'YXRRSET') {
          const names = update.prerequisites.map((p) => p.name).join(', ');
          throw new PermanentError(
            `${(error as Error).message}: the server has a CNAME at ${names}, which up does not have; run \`up dns zones verify ${zone} --repair\``,
            { code: 'YXRRSET', cause: error },
          );
        }
        if ((error as { code?: string }).code === 'REFUSED') {
          const findings = await explainRefusal(server, zone, changes);
          if (findings.length > 0)
            throw new PermanentError(`${(error as Error).message}; the server's integrity checks refuse ${findings.join('; ')}`, {
              code: 'REFUSED',
              cause: error,
            });
        }
        throw error;
      }
      return { zone, changes: changes.length, serial: await soaSerial(server, zone), transport };
    }),
});
