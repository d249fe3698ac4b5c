import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { hostRefOf, type HostRow } from '../lib/db/hosts.ts';
import { newJobId } from '../lib/ids.ts';
import type { Bus } from '../queues/bus.ts';
import { ENVELOPE_VERSION, type Envelope } from '../queues/envelope.ts';
import { describe } from '../queues/errors.ts';
import { healthCheckHost } from '../queues/ops/health.ts';

export const HOST_THRESHOLDS = { diskPercent: 90, memoryPercent: 95, loadPerCpu: 4 };

/** Defaults, overridden per host by labels such as `health.load-per-cpu=8`. */
export function thresholdsFor(host: Pick<HostRow, 'labels'>): typeof HOST_THRESHOLDS {
  const label = (name: string, fallback: number, max: number) => {
    const value = Number(host.labels?.[`health.${name}`]);
    return Number.isFinite(value) && value > 0 && value <= max ? value : fallback;
  };
  return {
    diskPercent: label('disk-percent', HOST_THRESHOLDS.diskPercent, 100),
    memoryPercent: label('memory-percent', HOST_THRESHOLDS.memoryPercent, 100),
    loadPerCpu: label('load-per-cpu', HOST_THRESHOLDS.loadPerCpu, 1000),
  };
}

/** Waits `ms`; false when aborted first. */
const pause = (ms: number, signal: AbortSignal) =>
  sleep(ms, true, { signal, ref: false }).catch(() => false);

/** A check goes straight to the bus: no job row, it expires unread when stale. */
function checkEnvelope(op: { name: string; version: number }, payload: unknown, target: string, ttlMs: number): Envelope {
  const id = newJobId();
  return {
    v: ENVELOPE_VERSION,
    id,
    op: op.name,
    payloadVersion: op.version,
    tenant: null,
    actor: 'system:scheduler',
    attempt: 1,
    correlationId: id,
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + ttlMs).toISOString(),
    target,
    payload,
  };
}

/**
 * Publishes one round of checks for every deployed resource, spread evenly over the
 * interval so that ten thousand resources never arrive at once. Resolves when the round
 * has been published (or `signal` aborts it).
 */
export async function publishHealthRound(options: { db: Knex; bus: Bus; log: Logger; intervalMs: number; signal: AbortSignal }): Promise<number> {
  const { db, bus, log, intervalMs, signal } = options;
  const hosts: HostRow[] = await db('hosts').where({ maintenance: false }).orderBy('name');
  const gap = hosts.length > 0 ? intervalMs / hosts.length : 0;
  let published = 0;
  for (const [i, host] of hosts.entries()) {
    if (i > 0 && !(await pause(gap, signal))) break;
    const payload = { resource: { type: 'host', key: host.name }, host: await hostRefOf(db, host), thresholds: thresholdsFor(host) };
    await bus
      .publishOp(checkEnvelope(healthCheckHost, payload, host.name, Math.max(intervalMs, 10_000)))
      .then(() => published++)
      .catch((error) => log.warn({ host: host.name, err: describe(error) }, 'could not publish a health check'));
  }
  return published;
}
