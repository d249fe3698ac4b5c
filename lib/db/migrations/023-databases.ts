import type { Knex } from 'knex';

/**
 * Databases: the servers the admin registers (a host, an engine, the public address tenants
 * connect to), tenants' databases and database users on them (names unique per server; a user
 * keeps only its password verifier), and which user may use which database how. Sizes are the health checks' measurements (table health).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('db_servers', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.text('engine').notNullable();
    t.text('host').notNullable().references('name').inTable('hosts').onUpdate('CASCADE');
    /** Where tenants connect (and what the server listens on besides its socket). */
    t.text('address').notNullable();
    t.integer('port').notNullable();
    /** PostgreSQL: the Debian cluster. */
    t.text('cluster').notNullable().defaultTo('main');
    t.boolean('is_default').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`engine IN ('postgresql', 'mariadb')`);
  });
  await knex.raw('CREATE UNIQUE INDEX db_servers_one_default ON db_servers (engine) WHERE is_default');
  await knex.schema.createTable('databases', (t) => {
    t.uuid('id').primary();
    /** As the tenant names it; on the server it is `full_name` (`<tenant>_<name>`). */
    t.text('name').notNullable();
    t.text('full_name').notNullable();
    t.uuid('owner_id').notNullable().references('id').inTable('users');
    t.uuid('server_id').notNullable().references('id').inTable('db_servers');
    t.text('last_error');
    t.timestamp('applied_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['owner_id', 'name']);
    t.unique(['server_id', 'full_name']);
  });
  await knex.schema.createTable('database_users', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.text('full_name').notNullable();
    t.uuid('owner_id').notNullable().references('id').inTable('users');
    t.uuid('server_id').notNullable().references('id').inTable('db_servers');
    /** PostgreSQL: SCRAM-SHA-256 verifier; MariaDB: mysql_native_password hash. Never the password. */
    t.text('verifier').notNullable();
    t.text('last_error');
    t.timestamp('applied_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['owner_id', 'name']);
    t.unique(['server_id', 'full_name']);
  });
  await knex.schema.createTable('database_grants', (t) => {
    t.uuid('database_id').notNullable().references('id').inTable('databases').onDelete('CASCADE');
    t.uuid('user_id').notNullable().references('id').inTable('database_users').onDelete('CASCADE');
    t.text('access').notNullable();
    t.primary(['database_id', 'user_id']);
    t.check(`access IN ('rw', 'ro')`);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('database_grants');
  await knex.schema.dropTableIfExists('database_users');
  await knex.schema.dropTableIfExists('databases');
  await knex.schema.dropTableIfExists('db_servers');
}
