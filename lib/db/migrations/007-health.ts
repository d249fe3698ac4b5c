import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One row per checked resource: its current health, with hysteresis counters.
  await knex.schema.createTable('health', (t) => {
    t.text('resource_type').notNullable();
    t.text('resource_key').notNullable();
    t.uuid('owner_id');
    t.text('state').notNullable(); // healthy | degraded | repairing | failed
    t.integer('failures').notNullable().defaultTo(0);
    t.timestamp('since', { useTz: true }).notNullable();
    t.timestamp('checked_at', { useTz: true }).notNullable();
    t.jsonb('problems').notNullable().defaultTo('[]');
    t.jsonb('measurements');
    t.primary(['resource_type', 'resource_key']);
  });
  await knex.schema.createTable('health_history', (t) => {
    t.bigIncrements('id');
    t.text('resource_type').notNullable();
    t.text('resource_key').notNullable();
    t.text('state').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('note');
    t.index(['resource_type', 'resource_key', 'at']);
  });
  // One alarm per resource and cause: raised once, counted, cleared, acknowledged.
  await knex.schema.createTable('alarms', (t) => {
    t.uuid('id').primary();
    t.text('resource_type').notNullable();
    t.text('resource_key').notNullable();
    t.text('cause').notNullable();
    t.uuid('owner_id');
    t.text('message').notNullable();
    t.text('status').notNullable(); // open | cleared
    t.timestamp('first_seen', { useTz: true }).notNullable();
    t.timestamp('last_seen', { useTz: true }).notNullable();
    t.integer('count').notNullable().defaultTo(1);
    t.timestamp('cleared_at', { useTz: true });
    t.timestamp('acked_at', { useTz: true });
    t.text('acked_by');
  });
  await knex.raw("CREATE UNIQUE INDEX alarms_open ON alarms (resource_type, resource_key, cause) WHERE status = 'open'");
  // Deliveries to the webhook, as an outbox: retried until they succeed.
  await knex.schema.createTable('alarm_notifications', (t) => {
    t.bigIncrements('id');
    t.uuid('alarm_id').notNullable().references('alarms.id').onDelete('CASCADE');
    t.text('event').notNullable(); // raised | cleared
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_at', { useTz: true }).notNullable();
    t.timestamp('delivered_at', { useTz: true });
    t.text('last_error');
    t.index(['delivered_at', 'next_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['alarm_notifications', 'alarms', 'health_history', 'health']) await knex.schema.dropTable(table);
}
