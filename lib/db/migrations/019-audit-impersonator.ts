import type { Knex } from 'knex';

/**
 * An admin acting as a user (`X-Up-As`): the entry's user is the one the request ran as, and
 * the admin who really asked is kept beside it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit', (t) => {
    t.uuid('impersonator_id');
    t.text('impersonator');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit', (t) => {
    t.dropColumn('impersonator_id');
    t.dropColumn('impersonator');
  });
}
