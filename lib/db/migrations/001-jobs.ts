import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('jobs', (t) => {
    t.uuid('id').primary();
    t.text('op').notNullable();
    t.integer('payload_version').notNullable();
    t.text('status').notNullable();
    t.text('tenant');
    t.text('actor').notNullable();
    t.jsonb('payload').notNullable();
    t.integer('attempt').notNullable().defaultTo(0);
    t.integer('max_attempts').notNullable();
    t.text('correlation_id').notNullable();
    t.text('idempotency_key');
    t.uuid('retry_of');
    t.text('target');
    t.integer('generation');
    t.jsonb('result');
    t.jsonb('error');
    t.timestamp('deadline', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    t.index(['status', 'created_at']);
    t.index(['op', 'created_at']);
  });
  // Same key from the same caller returns the same job.
  await knex.raw('CREATE UNIQUE INDEX jobs_idempotency ON jobs (actor, idempotency_key) WHERE idempotency_key IS NOT NULL');
  // The outbox is the set of accepted, unpublished jobs: keep finding them cheap.
  await knex.raw("CREATE INDEX jobs_outbox ON jobs (created_at) WHERE status = 'accepted'");

  await knex.schema.createTable('job_events', (t) => {
    t.bigIncrements('id');
    t.uuid('job_id').notNullable().references('jobs.id').onDelete('CASCADE');
    t.integer('attempt').notNullable();
    t.text('status').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('handler_host');
    t.integer('handler_pid');
    t.text('target');
    t.integer('duration_ms');
    t.text('message');
    t.unique(['job_id', 'attempt', 'status']);
  });

  await knex.schema.createTable('dead_letters', (t) => {
    t.uuid('id').primary();
    t.uuid('job_id');
    t.text('op');
    t.text('reason').notNullable();
    t.text('content').notNullable();
    t.timestamp('dead_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('replayed_at', { useTz: true });
    t.uuid('replay_job_id');
    t.index(['dead_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('dead_letters');
  await knex.schema.dropTable('job_events');
  await knex.schema.dropTable('jobs');
}
