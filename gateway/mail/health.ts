/**
 * Every mail host is checked each round: postfix and dovecot running, TLS with the installed
 * certificate on 25, 587 and 993, a short queue, and the files those of the current generation
 * (drift: someone edited a map). The repair re-renders from PostgreSQL (health.repair.mail-host,
 * the same message as mail.apply at the host's current generation); the health daemon raises
 * one alarm when it cannot.
 */
import type { Knex } from 'knex';
import type { CheckResult } from '../../queues/health/checks.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import { healthCheckMailHost, healthRepairMailHost, MAIL_QUEUE_MAX } from '../../queues/mail/health.ts';
import type { CheckKind } from '../domain.ts';
import type { HostRow } from '../hosts/store.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import { plan, type JobPlan } from '../plan.ts';
import { MAIL_ROLE, mailApplyAt, mailLayoutOf } from './plans.ts';
import type { MailHostRow } from './store.ts';

/** Mail hosts that serve something (a host of role mail with no mail_hosts row was never set up). */
async function mailHosts(db: Knex): Promise<(HostRow & { generation: number })[]> {
  return db('hosts as h')
    .join('mail_hosts as m', 'm.host_id', 'h.id')
    .whereRaw('? = ANY(h.roles)', [MAIL_ROLE])
    .where('h.maintenance', false)
    .orderBy('h.name')
    .select('h.*', 'm.generation');
}

async function repairMailHost(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  if (hasCause(check, 'unreachable')) return null;
  const host: HostRow | undefined = await db('hosts').where({ name: check.resource.key }).first();
  const row: MailHostRow | undefined = host && (await db('mail_hosts').where({ host_id: host.id }).first());
  if (!host || !row) return null;
  const apply = await mailApplyAt(db, host.id, row.generation);
  return plan({
    op: healthRepairMailHost,
    payload: apply.payload as PayloadOf<typeof healthRepairMailHost>,
    target: apply.target,
    generation: row.generation,
    ownerId: null,
  });
}

export const mailChecks: CheckKind = {
  type: 'mail-host',
  op: healthCheckMailHost,
  async plan(db, round) {
    const planned: JobPlan[] = [];
    for (const host of await mailHosts(db)) {
      const payload = {
        resource: { type: 'mail-host', key: host.name },
        host: await round.refOf(host),
        layout: mailLayoutOf(host),
        generation: host.generation,
        queueMax: MAIL_QUEUE_MAX,
      };
      planned.push(plan({ op: healthCheckMailHost, payload, target: `mail@${host.name}` }));
    }
    return planned;
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairMailHost } },
};
