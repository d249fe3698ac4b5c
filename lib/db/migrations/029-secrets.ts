import type { Knex } from 'knex';

/**
 * Tenants' secrets for their containers: each value sealed (AES-256-GCM, lib/secrets/sealing.ts)
 * with the key in UP_SECRETS_KEY_FILE, bound to its owner and name; never stored in the clear.
 * `version` counts the values a secret had (each PUT of a new value is one more).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('secrets', (t) => {
    t.uuid('id').primary();
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.text('name').notNullable();
    t.text('ciphertext').notNullable();
    t.integer('version').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['owner_id', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('secrets');
}
