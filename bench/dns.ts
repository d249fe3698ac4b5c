/**
 * Records applied per second against a lab BIND over loopback: batched TSIG-signed UPDATE messages
 * from lib/dns, next to one record per message (lib/dns, and BIND's own `nsupdate -y`).
 * Run directly: node --import tsx bench/dns.ts
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { axfr, sendUpdate } from '../lib/dns/client.ts';
import type { ResourceRecord } from '../lib/dns/records.ts';
import { buildUpdate } from '../lib/dns/update.ts';
import { labBind } from '../test/helpers/bind.ts';
import type { LabBind } from '../test/helpers/bind.ts';

export interface DnsBenchOptions {
  batchedRecords?: number;
  batchSize?: number;
  singleRecords?: number;
}

const DEFAULTS = { batchedRecords: 2000, batchSize: 100, singleRecords: 200 };

export async function benchDns(options: DnsBenchOptions = {}): Promise<Record<string, number>> {
  const { batchedRecords, batchSize, singleRecords } = { ...DEFAULTS, ...options };
  const bind = await labBind();
  try {
    const records = (prefix: string, count: number): ResourceRecord[] =>
      Array.from({ length: count }, (_, i) => ({
        name: `${prefix}-${i}.${bind.zone}`,
        ttl: 60,
        type: 'A',
        address: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
      }));

    const batched = records('batch', batchedRecords);
    const batchedMs = await timed(async () => {
      for (let i = 0; i < batched.length; i += batchSize) {
        const changes = batched.slice(i, i + batchSize).map((record) => ({ op: 'add' as const, record }));
        await sendUpdate(bind.server, buildUpdate({ zone: bind.zone, changes }), bind.key);
      }
    });

    const single = records('single', singleRecords);
    const singleMs = await timed(async () => {
      for (const record of single)
        await sendUpdate(bind.server, buildUpdate({ zone: bind.zone, changes: [{ op: 'add', record }] }), bind.key);
    });

    const viaNsupdate = records('nsupdate', singleRecords);
    const nsupdateMs = await timed(() => nsupdateOnePerMessage(bind, viaNsupdate));

    await expectApplied(bind, { batch: batchedRecords, single: singleRecords, nsupdate: singleRecords });
    const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);
    const result = {
      batchedRecordsPerSec: perSecond(batchedRecords, batchedMs),
      singleRecordsPerSec: perSecond(singleRecords, singleMs),
      nsupdateRecordsPerSec: perSecond(singleRecords, nsupdateMs),
      batchedMs: Math.round(batchedMs),
      singleMs: Math.round(singleMs),
      nsupdateMs: Math.round(nsupdateMs),
    };
    return {
      ...result,
      batchedVsNsupdate: round1(result.batchedRecordsPerSec / result.nsupdateRecordsPerSec),
      singleVsNsupdate: round1(result.singleRecordsPerSec / result.nsupdateRecordsPerSec),
    };
  } finally {
    await bind.down();
  }
}

/** One nsupdate process sending one UPDATE per record, so process start-up is paid once, not per record. */
function nsupdateOnePerMessage(bind: LabBind, records: ResourceRecord[]): Promise<void> {
  const lines = [`server ${bind.server.address} ${bind.server.port}`, `zone ${bind.zone}`];
  for (const record of records) {
    if (record.type !== 'A') throw new Error('the benchmark only sends A records');
    lines.push(`update add ${record.name} ${record.ttl} A ${record.address}`, 'send');
  }
  const keyArg = `${bind.key.algorithm}:${bind.key.name}:${bind.key.secret.toString('base64')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('nsupdate', ['-y', keyArg], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nsupdate exited ${code}: ${stderr}`))));
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

async function expectApplied(bind: LabBind, expected: Record<string, number>): Promise<void> {
  const zone = await axfr(bind.server, bind.zone, bind.key, { timeoutMs: 10_000 });
  for (const [prefix, count] of Object.entries(expected)) {
    const found = zone.filter((record) => record.type === 'A' && record.name.startsWith(`${prefix}-`)).length;
    if (found !== count) throw new Error(`expected ${count} "${prefix}" records in the zone, found ${found}`);
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchDns();
  const row = (label: string, records: number, ms: number, rate: number) =>
    `${label.padEnd(48)} ${String(records).padStart(5)} records ${String(ms).padStart(6)} ms ${String(rate).padStart(7)} records/s`;
  console.log('DNS updates against lab BIND 9 on loopback, TSIG hmac-sha256');
  console.log(
    row(`lib/dns, batched UPDATE (${DEFAULTS.batchSize} records/message)`, DEFAULTS.batchedRecords, r.batchedMs, r.batchedRecordsPerSec),
  );
  console.log(row('lib/dns, one record per message', DEFAULTS.singleRecords, r.singleMs, r.singleRecordsPerSec));
  console.log(row('nsupdate -y, one record per message', DEFAULTS.singleRecords, r.nsupdateMs, r.nsupdateRecordsPerSec));
  console.log(`batched / nsupdate: ${r.batchedVsNsupdate}x   one-per-message lib / nsupdate: ${r.singleVsNsupdate}x`);
}
