import type { Knex } from 'knex';

/**
 * The resource a job acts on, by id (its kind follows from the op: a DNS op's is a zone). Names
 * are reused (a zone deleted by one user, created by another); ids are not, so observers and
 * retries find the resource itself, never whatever carries its name now. The handler never
 * needs it: it stays on the row, out of the message.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.uuid('resource_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('resource_id');
  });
}
