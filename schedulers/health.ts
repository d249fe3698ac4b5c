import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { hostRefOf, type HostRow } from '../gateway/hosts/store.ts';
import { newJobId } from '../lib/ids.ts';
import type { Bus } from '../queues/bus.ts';
import { ENVELOPE_VERSION, type Envelope } from '../queues/envelope.ts';
import { describe } from '../lib/errors.ts';
import type { HostRef } from '../queues/host-ref.ts';
import { forgetGone } from '../gateway/health/store.ts';
import { domains } from '../gateway/domains.ts';
import { rolesOf } from '../gateway/hosts/roles.ts';
import type { JobPlan } from '../gateway/plan.ts';

/** Waits `ms`; false when aborted first. */
const pause = (ms: number, signal: AbortSignal) => sleep(ms, true, { signal, ref: false }).catch(() => false);

/** A check goes straight to the bus: no job row, it expires unread when stale. */
function checkEnvelope({ op, payload, target }: PlannedCheck, ttlMs: number): Envelope {
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
    ...(target ? { target } : {}),
    payload,
  };
}

const CHECK_KINDS = domains.flatMap((d) => d.checks ?? []);
const ROLES = rolesOf(domains);

/** Every check's payload names the resource it looks at. */
type CheckPayload = { resource: { type: string; key: string } };

/** A check is planned like a job (typed by its operation), and published without a job row. */
type PlannedCheck = JobPlan;

/** Every check of one round, of every domain's check kinds (hosts, proxies, websites, certificates, DNS zones, …). */
export async function plannedChecks(db: Knex): Promise<PlannedCheck[]> {
  const refs = new Map<string, HostRef>();
  const refOf = async (host: HostRow) => refs.get(host.id) ?? refs.set(host.id, await hostRefOf(db, host)).get(host.id)!;
  const planned: PlannedCheck[] = [];
  for (const kind of CHECK_KINDS) planned.push(...(await kind.plan(db, { refOf, roles: ROLES })));
  return planned;
}

/**
 * The keys each type still has, so that the health of deleted resources is forgotten: by
 * default the keys checked this round.
 */
async function stillThere(db: Knex, planned: PlannedCheck[]): Promise<Map<string, Set<string>>> {
  const current = new Map<string, Set<string>>();
  for (const kind of CHECK_KINDS) {
    const checked = planned.filter((check) => check.op === kind.op).map((check) => (check.payload as CheckPayload).resource.key);
    current.set(kind.type, kind.keys ? await kind.keys(db, planned) : new Set(checked));
  }
  return current;
}

/**
 * Publishes one round of checks for every deployed resource, spread evenly over the
 * interval so that ten thousand resources never arrive at once. Resolves when the round
 * has been published (or `signal` aborts it).
 */
export async function publishHealthRound(options: {
  db: Knex;
  bus: Bus;
  log: Logger;
  intervalMs: number;
  signal: AbortSignal;
}): Promise<number> {
  const { db, bus, log, intervalMs, signal } = options;
  const planned = await plannedChecks(db);
  await forgetGone(db, await stillThere(db, planned), new Date()).catch((error) =>
    log.warn({ err: describe(error) }, 'could not forget the health of removed resources'),
  );
  const gap = planned.length > 0 ? intervalMs / planned.length : 0;
  let published = 0;
  for (const [i, check] of planned.entries()) {
    if (i > 0 && !(await pause(gap, signal))) break;
    await bus
      .publishOp(checkEnvelope(check, Math.max(intervalMs, 10_000)))
      .then(() => published++)
      .catch((error) => log.warn({ op: check.op.name, target: check.target, err: describe(error) }, 'could not publish a health check'));
  }
  return published;
}
