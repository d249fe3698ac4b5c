import type { Knex } from 'knex';

/**
 * Applications: a website (the nginx side) and its replicas (the tenant's containers), created,
 * deployed and deleted together. A replica is an ordinary container row that belongs to its app
 * (`app_id`) and, once it serves, joins the app's `service`: the name the site's route names,
 * which resolves to every container of the service (an nginx upstream over the replicas). A
 * container outside any service is addressed by its own name, as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('apps', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.uuid('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.text('template').notNullable();
    t.uuid('website_id').notNullable().references('websites.id').onDelete('RESTRICT');
    /** The containers host its replicas and builds run on; null for a template that runs no container. */
    t.text('host');
    t.integer('replicas').notNullable();
    t.jsonb('env').notNullable().defaultTo('{}');
    t.text('base_image');
    /** The image the serving replicas run, and the one before it (rollback); null before the first deploy. */
    t.text('image');
    t.text('previous_image');
    /** Counts rollouts: replicas are named `<app>-r<release>-<n>`, so a new release never collides with the old. */
    t.integer('release').notNullable().defaultTo(0);
    /** The last deploy: its state (building, starting, switching, succeeded, failed), image, job and log. */
    t.jsonb('deploy');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['owner_id', 'name']);
    t.unique(['website_id']);
  });
  await knex.schema.alterTable('containers', (t) => {
    t.uuid('app_id').references('apps.id').onDelete('RESTRICT');
    t.text('service');
    t.index(['owner_id', 'service']);
    t.index(['app_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('service');
    t.dropColumn('app_id');
  });
  await knex.schema.dropTable('apps');
}
