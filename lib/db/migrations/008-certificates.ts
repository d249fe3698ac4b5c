import type { Knex } from 'knex';

/** Certificates (sites, proxy wildcards, host services) and the HTTPS port of proxy groups. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('certificates', (t) => {
    t.uuid('id').primary();
    /** null: an admin's certificate (a proxy wildcard, a host service). */
    t.uuid('owner_id');
    t.text('kind').notNullable(); // site | wildcard | service
    /** certbot's lineage name and the directory under <baseDir>/tls on every member. */
    t.text('name').notNullable();
    t.uuid('website_id').references('websites.id').onDelete('CASCADE');
    t.uuid('proxy_group_id').references('proxy_groups.id').onDelete('CASCADE');
    t.uuid('host_id').references('hosts.id').onDelete('CASCADE');
    t.jsonb('names').notNullable();
    t.text('challenge').notNullable(); // http-01 | dns-01
    t.text('status').notNullable().defaultTo('pending'); // pending | valid | failed | renewing
    t.timestamp('not_before', { useTz: true });
    t.timestamp('not_after', { useTz: true });
    t.text('issuer');
    t.text('serial');
    t.text('fingerprint');
    t.text('last_error');
    t.timestamp('last_attempt_at', { useTz: true });
    t.integer('failures').notNullable().defaultTo(0);
    t.uuid('last_job_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['website_id']);
    t.index(['owner_id']);
    t.index(['status', 'not_after']);
  });
  await knex.raw("CREATE UNIQUE INDEX certificates_wildcard ON certificates (proxy_group_id) WHERE kind = 'wildcard'");
  await knex.schema.alterTable('proxy_groups', (t) => {
    t.integer('https_port').notNullable().defaultTo(443);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('proxy_groups', (t) => t.dropColumn('https_port'));
  await knex.schema.dropTableIfExists('certificates');
}
