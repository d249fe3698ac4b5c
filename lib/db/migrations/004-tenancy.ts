import type { Knex } from 'knex';

/**
 * Tenancy: plan limits and a subordinate id range on users, API tokens (hashed), the hosts
 * where a tenant's Unix user exists, the audit trail, and an owner on every job.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.jsonb('limits').notNullable().defaultTo('{}');
    // First id of the tenant's 65536 subordinate uids/gids, the same on every host.
    t.bigInteger('subid_start').unique();
    t.timestamp('suspended_at', { useTz: true });
  });

  await knex.schema.createTable('tokens', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('hash').notNullable(); // hex SHA-256 of the whole secret
    t.specificType('scopes', 'text[]').notNullable();
    t.specificType('allow_from', 'text[]').notNullable().defaultTo('{}');
    t.integer('rate_per_minute');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id']);
  });

  await knex.schema.createTable('tenant_hosts', (t) => {
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('host').notNullable();
    t.integer('uid');
    t.timestamp('provisioned_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'host']);
  });

  await knex.schema.createTable('audit', (t) => {
    t.uuid('id').primary(); // UUIDv7: sorts by time, the page cursor
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.uuid('user_id');
    t.text('actor');
    t.uuid('token_id');
    t.text('ip').notNullable();
    t.text('method').notNullable();
    t.text('route').notNullable();
    t.text('resource_id');
    t.uuid('job_id');
    t.integer('status_code').notNullable();
    t.text('outcome').notNullable();
    t.index(['user_id', 'id']);
  });

  await knex.schema.alterTable('jobs', (t) => {
    t.uuid('owner_id');
    t.index(['owner_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropIndex(['owner_id', 'id']);
    t.dropColumn('owner_id');
  });
  await knex.schema.dropTable('audit');
  await knex.schema.dropTable('tenant_hosts');
  await knex.schema.dropTable('tokens');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('suspended_at');
    t.dropColumn('subid_start');
    t.dropColumn('limits');
  });
}
