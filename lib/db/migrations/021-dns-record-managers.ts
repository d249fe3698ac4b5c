import type { Knex } from 'knex';

/**
 * Records up keeps on a resource's behalf name their manager generically, `(manager_kind,
 * manager_id)`, instead of one foreign key per kind (website_id, proxy_group_id): mail domains,
 * applications and containers will keep records too. A manager removes its records itself (a
 * site's removal does), as there is no foreign key to cascade any more.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('dns_records', (t) => {
    t.text('manager_kind');
    t.uuid('manager_id');
    t.index(['manager_kind', 'manager_id']);
  });
  await knex('dns_records')
    .whereNotNull('website_id')
    .update({ manager_kind: 'website', manager_id: knex.ref('website_id') });
  await knex('dns_records')
    .whereNotNull('proxy_group_id')
    .update({ manager_kind: 'proxy', manager_id: knex.ref('proxy_group_id') });
  await knex.raw('ALTER TABLE dns_records ADD CONSTRAINT dns_records_manager CHECK ((manager_kind IS NULL) = (manager_id IS NULL))');
  await knex.schema.alterTable('dns_records', (t) => {
    t.dropColumn('website_id');
    t.dropColumn('proxy_group_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('dns_records', (t) => {
    t.uuid('website_id').references('websites.id').onDelete('CASCADE');
    t.uuid('proxy_group_id').references('proxy_groups.id').onDelete('CASCADE');
    t.index(['website_id']);
    t.index(['proxy_group_id']);
  });
  await knex('dns_records')
    .where({ manager_kind: 'website' })
    .update({ website_id: knex.ref('manager_id') });
  await knex('dns_records')
    .where({ manager_kind: 'proxy' })
    .update({ proxy_group_id: knex.ref('manager_id') });
  await knex.raw('ALTER TABLE dns_records DROP CONSTRAINT dns_records_manager');
  await knex.schema.alterTable('dns_records', (t) => {
    t.dropColumn('manager_kind');
    t.dropColumn('manager_id');
  });
}
