import type { Knex } from 'knex';

/** Proxy groups and their member hosts; websites, the domains they claim, and what each host applied. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('proxy_groups', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.text('wildcard_domain').notNullable().unique();
    t.jsonb('addresses').notNullable();
    t.text('base_dir').notNullable();
    t.integer('http_port').notNullable();
    t.text('nginx_user').notNullable();
    t.integer('generation').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('proxy_members', (t) => {
    t.uuid('group_id').notNullable().references('proxy_groups.id').onDelete('CASCADE');
    t.uuid('host_id').notNullable().references('hosts.id').onDelete('RESTRICT');
    /** Overrides the group's base_dir on this member (lab hosts share one filesystem). */
    t.text('base_dir');
    t.integer('applied_generation');
    t.text('last_error');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['group_id', 'host_id']);
  });
  await knex.schema.createTable('websites', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('proxy_group_id').notNullable().references('proxy_groups.id').onDelete('RESTRICT');
    t.text('temp_domain').notNullable().unique();
    /** The normalized spec as the API shows it (punycode domains, password hashes only). */
    t.jsonb('spec').notNullable();
    t.integer('generation').notNullable().defaultTo(1);
    /** Set by the certificates issue once a certificate is installed; gates the HTTPS redirect. */
    t.boolean('tls').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
  });
  await knex.schema.createTable('website_domains', (t) => {
    t.text('domain').primary();
    t.uuid('website_id').notNullable().references('websites.id').onDelete('CASCADE');
    t.uuid('owner_id').notNullable();
  });
  await knex.schema.createTable('website_hosts', (t) => {
    t.uuid('website_id').notNullable().references('websites.id').onDelete('CASCADE');
    t.text('host').notNullable();
    t.integer('applied_generation');
    t.text('last_error');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['website_id', 'host']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['website_hosts', 'website_domains', 'websites', 'proxy_members', 'proxy_groups'])
    await knex.schema.dropTableIfExists(table);
}
