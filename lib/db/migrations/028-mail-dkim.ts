import type { Knex } from 'knex';

/**
 * DKIM: each mail domain's public key, as its mail host reported it after making the key pair
 * there (the private key never leaves the host). Null until the host has applied the domain.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_domains', (t) => {
    t.text('dkim_public_key');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_domains', (t) => {
    t.dropColumn('dkim_public_key');
  });
}
