import type { Knex } from 'knex';

/**
 * What an app's replicas read besides their environment: the owner's secrets, as a container
 * names them (`[{ name, env? }]`), and the database attached to it (`{ database, user,
 * passwordSecret }`, short names), given to them as DATABASE_URL. Both are copied into each
 * release's container specs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('apps', (t) => {
    t.jsonb('secrets').notNullable().defaultTo('[]');
    t.jsonb('database');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('apps', (t) => {
    t.dropColumn('secrets');
    t.dropColumn('database');
  });
}
