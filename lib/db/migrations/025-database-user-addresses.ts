import type { Knex } from 'knex';

/**
 * The client networks a database user may connect from (canonical CIDRs); empty: anywhere.
 * The servers enforce them (pg_hba lines per user, MariaDB one account per network).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('database_users', (t) => {
    t.specificType('allow_from', 'text[]').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('database_users', (t) => {
    t.dropColumn('allow_from');
  });
}
