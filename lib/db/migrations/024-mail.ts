import type { Knex } from 'knex';

/**
 * Mail: the hosts that serve mail (their generation: every change re-renders the host's maps),
 * tenants' domains on them, mailboxes (SHA-512-crypt hashes only, never a password), and
 * aliases (one address or a domain's catch-all to many targets). Names are unique across
 * tenants: a domain's mail is served by one host and belongs to one tenant.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mail_hosts', (t) => {
    t.uuid('host_id').primary().references('hosts.id').onDelete('RESTRICT');
    t.integer('generation').notNullable().defaultTo(1);
    t.integer('applied_generation');
    t.text('last_error');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('mail_domains', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('host_id').notNullable().references('mail_hosts.host_id').onDelete('RESTRICT');
    /** The host generation that first served the domain: applied once mail_hosts.applied_generation reaches it. */
    t.integer('generation').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
    t.index(['host_id']);
  });
  await knex.schema.createTable('mail_boxes', (t) => {
    t.uuid('id').primary();
    t.text('address').notNullable().unique();
    t.uuid('domain_id').notNullable().references('mail_domains.id').onDelete('RESTRICT');
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.text('password_hash').notNullable();
    t.integer('quota_mb').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.integer('generation').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
    t.index(['domain_id']);
  });
  await knex.schema.createTable('mail_aliases', (t) => {
    t.uuid('id').primary();
    /** user@domain, or @domain: the domain's catch-all. */
    t.text('address').notNullable().unique();
    t.uuid('domain_id').notNullable().references('mail_domains.id').onDelete('RESTRICT');
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.jsonb('targets').notNullable();
    t.integer('generation').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
    t.index(['domain_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('mail_aliases');
  await knex.schema.dropTable('mail_boxes');
  await knex.schema.dropTable('mail_domains');
  await knex.schema.dropTable('mail_hosts');
}
