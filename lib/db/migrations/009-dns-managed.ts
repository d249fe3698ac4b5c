import type { Knex } from 'knex';

/**
 * Records that up keeps for a website (its domains in its owner's zone) or a proxy group (its
 * wildcard domain in the admin's zone). Users see them in the records API but cannot change them
 * there: they follow the site or the group. Null in both: the user's own record.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('dns_records', (t) => {
    t.uuid('website_id').references('websites.id').onDelete('CASCADE');
    t.uuid('proxy_group_id').references('proxy_groups.id').onDelete('CASCADE');
    t.index(['website_id']);
    t.index(['proxy_group_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('dns_records', (t) => {
    t.dropColumn('website_id');
    t.dropColumn('proxy_group_id');
  });
}
