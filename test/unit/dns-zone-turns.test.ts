import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inZoneOrder } from '../../handlers/dns/dns.records.apply/zone-turns.ts';

describe('changes to one zone, one at a time', () => {
  it('a slow first change finishes before the second starts; other zones do not wait', async () => {
    const log: string[] = [];
    const work = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([
      inZoneOrder('a.test', work('a1', 60)),
      inZoneOrder('a.test', work('a2', 1)),
      inZoneOrder('b.test', work('b1', 1)),
    ]);
    assert.deepEqual(results, ['a1', 'a2', 'b1']);
    assert.ok(log.indexOf('end a1') < log.indexOf('start a2'), log.join(', '));
    assert.ok(log.indexOf('end b1') < log.indexOf('end a1'), 'b.test did not wait for a.test');
  });

  it('a failed change does not block the next one, and its error reaches its own caller', async () => {
    const failed = inZoneOrder('c.test', async () => {
      throw new Error('REFUSED');
    });
    const next = inZoneOrder('c.test', async () => 'ok');
    await assert.rejects(failed, /REFUSED/);
    assert.equal(await next, 'ok');
  });
});
