/** What database jobs tell: when each database and user was last applied on its server, or why not. */
import type { Knex } from 'knex';
import { databaseApply, databaseUserApply } from '../../queues/databases/ops.ts';
import { observe, type ObservedJob, type Outcome } from '../observe.ts';

async function applied(db: Knex, table: string, id: string, event: Outcome<typeof databaseApply | typeof databaseUserApply>) {
  const row =
    event.status === 'succeeded'
      ? { applied_at: event.at, last_error: null }
      : event.status === 'superseded'
        ? null
        : { last_error: event.error?.message ?? event.status };
  if (row) await db(table).where({ id }).update(row);
}

export const databaseObservers = [
  observe(databaseApply, (db: Knex, job: ObservedJob<typeof databaseApply>, event) =>
    applied(db, 'databases', job.payload.database.id, event),
  ),
  observe(databaseUserApply, (db: Knex, job: ObservedJob<typeof databaseUserApply>, event) =>
    applied(db, 'database_users', job.payload.user.id, event),
  ),
];
