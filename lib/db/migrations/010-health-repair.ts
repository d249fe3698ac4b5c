import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // The repair started in the current unhealthy episode (one per episode; cleared when healthy).
  await knex.schema.alterTable('health', (t) => {
    t.uuid('repair_job_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('health', (t) => {
    t.dropColumn('repair_job_id');
  });
}
