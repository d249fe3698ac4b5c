import type { Knex } from 'knex';

/**
 * Jobs of one change share a correlation id: follow-ups (a role's set-up after host.prepare,
 * the HTTPS vhost after a certificate) and retries. `GET /v1/jobs?correlation=` and the
 * CLI's `--wait`, which follows a change to its last follow-up, look them up by it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.index(['correlation_id'], 'jobs_correlation_id_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropIndex(['correlation_id'], 'jobs_correlation_id_index');
  });
}
