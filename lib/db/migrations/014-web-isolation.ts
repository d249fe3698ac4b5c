import type { Knex } from 'knex';

/**
 * Websites are named per owner (two tenants may both have a `shop`; neither learns of the
 * other's), a proxy group may restrict where its sites' upstreams lie, and claimed names are
 * indexed reversed so that "a name under this one" is an index prefix scan.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('websites', (t) => {
    t.dropUnique(['name']);
    t.unique(['owner_id', 'name']);
  });
  await knex.schema.alterTable('proxy_groups', (t) => {
    /** CIDRs every upstream of the group's sites must lie in; null: unrestricted. */
    t.jsonb('upstream_networks');
  });
  await knex.raw('create index website_domains_reversed on website_domains (reverse(domain) text_pattern_ops)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists website_domains_reversed');
  await knex.schema.alterTable('proxy_groups', (t) => t.dropColumn('upstream_networks'));
  await knex.schema.alterTable('websites', (t) => {
    t.dropUnique(['owner_id', 'name']);
    t.unique(['name']);
  });
}
