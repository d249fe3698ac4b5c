/** What host jobs tell about the hosts: their facts, and the set-up their roles need next. */
import { hostPrepare } from '../../queues/hosts/prepare.ts';
import { hostProbe } from '../../queues/hosts/probe.ts';
import { observe } from '../observe.ts';
import { planRoleSetups, rolesOf } from './roles.ts';
import { getHostByName } from './store.ts';

export const hostObservers = [
  // A host's facts are what its latest successful probe found; an older probe finishing late never overwrites a newer one.
  observe(hostProbe, async (db, job, outcome) => {
    if (outcome.status !== 'succeeded') return;
    await db('hosts')
      .where({ name: job.payload.host.name })
      .andWhere((q) => q.whereNull('facts_at').orWhere('facts_at', '<=', outcome.at))
      .update({ facts: JSON.stringify(outcome.result), facts_at: outcome.at, updated_at: db.fn.now() });
  }),
  // The packages are there: each role's domain sets its role up (BIND for dns), as follow-ups of this job.
  observe(hostPrepare, async (db, job, outcome, { domains, publish }) => {
    if (outcome.status !== 'succeeded') return;
    const host = await getHostByName(db, job.payload.host.name);
    if (host) await planRoleSetups(db, rolesOf(domains), host, job, publish);
  }),
];
