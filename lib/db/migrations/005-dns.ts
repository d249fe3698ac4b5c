import type { Knex } from 'knex';

/**
 * DNS as desired state: servers (admin), zones (owned by users) and their records. PostgreSQL is
 * the source of truth; the servers are converged to it with RFC 2136 updates. No TSIG secret
 * here: handlers read it from UP_TSIG_KEYS_DIR by key name.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dns_servers', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    /** The host that runs the primary: `rndc` runs there, over SSH or locally. */
    t.text('primary_host').notNullable().references('hosts.name').onDelete('RESTRICT');
    /** Where it takes UPDATE and AXFR. */
    t.text('address').notNullable();
    t.integer('port').notNullable().defaultTo(53);
    t.text('rndc_conf').notNullable();
    t.text('zone_dir').notNullable();
    t.text('key_name').notNullable();
    t.text('algorithm').notNullable().defaultTo('hmac-sha256');
    /** The NS of every zone; null: `ns1.<zone>` with the server's address as its A. */
    t.text('nameserver');
    t.jsonb('secondaries').notNullable().defaultTo('[]');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('dns_zones', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('server_id').notNullable().references('dns_servers.id').onDelete('RESTRICT');
    t.text('status').notNullable().defaultTo('pending'); // pending | active | error | deleting
    t.text('status_message');
    t.bigInteger('serial');
    t.timestamp('applied_at', { useTz: true });
    t.timestamp('verified_at', { useTz: true });
    t.uuid('last_job_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
  });

  await knex.schema.createTable('dns_records', (t) => {
    t.uuid('id').primary();
    t.uuid('zone_id').notNullable().references('dns_zones.id').onDelete('CASCADE');
    /** Absolute, lower-case, without the trailing dot. */
    t.text('name').notNullable();
    t.text('type').notNullable();
    t.integer('ttl').notNullable();
    /** The type's fields (address, target, preference, ...), canonical. */
    t.jsonb('data').notNullable();
    /** The data in dig's presentation format: what a zone transfer shows. */
    t.text('value').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['zone_id', 'name', 'type', 'value']);
    t.index(['zone_id', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('dns_records');
  await knex.schema.dropTable('dns_zones');
  await knex.schema.dropTable('dns_servers');
}
