import type { Knex } from 'knex';

/**
 * Every run of an attempt is kept: a message handed out twice (a handler died holding it) ran
 * twice, and the job's history shows both runs, each with its delivery number. A job between
 * attempts says when the next one is due, and how often the watchdog had to send its next step
 * again, so that a retry that is late can be told from one that is waiting.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.timestamp('next_attempt_at', { useTz: true });
    t.integer('resent').notNullable().defaultTo(0);
  });
  await knex.schema.alterTable('job_events', (t) => {
    t.integer('delivery');
    // One row per reported transition of one run: a run is told apart by when it reported.
    t.dropUnique(['job_id', 'attempt', 'status']);
    t.unique(['job_id', 'attempt', 'status', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_events', (t) => {
    t.dropUnique(['job_id', 'attempt', 'status', 'at']);
    t.dropColumn('delivery');
  });
  await knex.raw(`DELETE FROM job_events e USING job_events f
                   WHERE e.job_id = f.job_id AND e.attempt = f.attempt AND e.status = f.status AND e.id > f.id`);
  await knex.schema.alterTable('job_events', (t) => t.unique(['job_id', 'attempt', 'status']));
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('next_attempt_at');
    t.dropColumn('resent');
  });
}
