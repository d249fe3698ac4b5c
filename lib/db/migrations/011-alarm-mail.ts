import type { Knex } from 'knex';

/** Alarm notifications per channel (webhook, mail): each channel retries on its own. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('alarm_notifications', (t) => {
    t.text('channel').notNullable().defaultTo('webhook');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('alarm_notifications', (t) => {
    t.dropColumn('channel');
  });
}
