import type { Knex } from 'knex';

/**
 * Uploaded site content: each website's current archive (which also lets a new proxy member
 * get the content later), one upload at a time per user, and the deploy jobs still waiting
 * for an archive found cheaply, so that the content store can be collected safely.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('websites', (t) => {
    /** sha256 of the archive the site serves (desired state); null until content is uploaded. */
    t.text('content_sha256');
    /** Its size in the content store (gzip), and inflated (what counts against the plan's disk). */
    t.bigInteger('content_bytes');
    t.bigInteger('content_expanded_bytes');
  });
  await knex.schema.createTable('content_uploads', (t) => {
    t.uuid('user_id').primary();
    t.uuid('claim').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    `CREATE INDEX jobs_deploy_pending ON jobs ((payload #>> '{site,id}'))
      WHERE op = 'website.deploy' AND status IN ('accepted', 'queued', 'running', 'retrying')`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS jobs_deploy_pending');
  await knex.schema.dropTableIfExists('content_uploads');
  await knex.schema.alterTable('websites', (t) => {
    t.dropColumn('content_sha256');
    t.dropColumn('content_bytes');
    t.dropColumn('content_expanded_bytes');
  });
}
