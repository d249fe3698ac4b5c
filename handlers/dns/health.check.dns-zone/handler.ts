import { axfr } from '../../../lib/dns/client.ts';
import { RetryableError } from '../../../lib/errors.ts';
import type { Difference } from '../../../queues/dns/ops.ts';
import type { CheckResult } from '../../../queues/health/checks.ts';
import { healthCheckDnsZone } from '../../../queues/dns/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { loadTsigKey } from '../keys.ts';
import { compareZone } from '../dns.zone.verify/compare.ts';

const shown = (diffs: Difference[]) =>
  diffs
    .slice(0, 5)
    .map((d) => `${d.name} ${d.type} ${d.value}`)
    .join(', ') + (diffs.length > 5 ? ', …' : '');

/** The same transfer and comparison as dns.zone.verify; differences and failed transfers are findings. */
export default defineHandler({
  op: healthCheckDnsZone,
  async run({ resource, zone, server, expected }): Promise<CheckResult> {
    let records;
    try {
      records = await axfr(server, zone, await loadTsigKey(server.keyName, server.algorithm), { timeoutMs: 20_000 });
    } catch (error) {
      const cause = error instanceof RetryableError ? 'server-unreachable' : 'transfer-failed';
      return {
        resource,
        healthy: false,
        problems: [
          { cause, message: `cannot transfer ${zone} from ${server.address}:${server.port}: ${(error as Error).message}`.slice(0, 2000) },
        ],
        measurements: {},
      };
    }
    const { missing, unexpected } = compareZone(zone, server.nameserver, records, expected);
    const serial = (records[0]?.data as { serial?: number } | undefined)?.serial ?? 0;
    const parts = [
      missing.length ? `${missing.length} missing (${shown(missing)})` : '',
      unexpected.length ? `${unexpected.length} unexpected (${shown(unexpected)})` : '',
    ].filter(Boolean);
    const problems = parts.length
      ? [{ cause: 'zone-drift', message: `zone ${zone} as served differs from its records: ${parts.join('; ')}`.slice(0, 2000) }]
      : [];
    return {
      resource,
      healthy: problems.length === 0,
      problems,
      measurements: { serial, missing: missing.length, unexpected: unexpected.length },
    };
  },
});
