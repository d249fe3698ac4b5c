import type { Knex } from 'knex';

/**
 * A job's final transition lives on its row (who finished it, how long it took), so that the
 * common case, one attempt that succeeds, costs one row update and no job_events row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.text('handler_host');
    t.integer('handler_pid');
    t.integer('duration_ms');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('handler_host');
    t.dropColumn('handler_pid');
    t.dropColumn('duration_ms');
  });
}
