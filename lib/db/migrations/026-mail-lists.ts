import type { Knex } from 'knex';

/**
 * Mailing lists (mlmmj on the mail host): a list is an address of a tenant's domain with a
 * posting policy, its moderators (who approve or alone post) and its members. The address is
 * unique across mailboxes, aliases and lists (the gateway checks all three in one transaction).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mail_lists', (t) => {
    t.uuid('id').primary();
    t.text('address').notNullable().unique();
    t.uuid('domain_id').notNullable().references('mail_domains.id').onDelete('RESTRICT');
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.text('policy').notNullable();
    t.jsonb('moderators').notNullable().defaultTo('[]');
    t.integer('generation').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['owner_id']);
    t.index(['domain_id']);
  });
  await knex.raw(
    `ALTER TABLE mail_lists ADD CONSTRAINT mail_lists_policy CHECK (policy IN ('members-only', 'moderated', 'announce-only'))`,
  );
  await knex.schema.createTable('mail_list_members', (t) => {
    t.uuid('list_id').notNullable().references('mail_lists.id').onDelete('CASCADE');
    t.text('address').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['list_id', 'address']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('mail_list_members');
  await knex.schema.dropTable('mail_lists');
}
