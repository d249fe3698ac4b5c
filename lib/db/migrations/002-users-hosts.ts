import type { Knex } from 'knex';

/** The bootstrap admin: who UP_ADMIN_TOKEN (or the generated admin token) acts as. */
export const BOOTSTRAP_ADMIN_ID = '00000000-0000-7000-8000-000000000001';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.text('role').notNullable(); // admin | user
    t.text('status').notNullable().defaultTo('active'); // active | suspended | deleted
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex('users').insert({ id: BOOTSTRAP_ADMIN_ID, name: 'admin', role: 'admin' });

  await knex.schema.createTable('hosts', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.text('address').notNullable();
    t.integer('port').notNullable().defaultTo(22);
    t.text('ssh_user').notNullable().defaultTo('root');
    t.text('host_key_sha256').notNullable();
    t.text('jump_host').references('hosts.name').onDelete('RESTRICT');
    /** "this machine": reached without SSH (the embedded default's first host). */
    t.boolean('local').notNullable().defaultTo(false);
    t.specificType('roles', 'text[]').notNullable().defaultTo('{}');
    t.jsonb('labels').notNullable().defaultTo('{}');
    t.jsonb('capacity').notNullable().defaultTo('{}');
    t.boolean('maintenance').notNullable().defaultTo(false);
    t.jsonb('facts');
    t.timestamp('facts_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('hosts');
  await knex.schema.dropTable('users');
}
