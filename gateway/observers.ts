import type { Knex } from 'knex';
import type { JobRow } from '../lib/db/jobs.ts';
import type { ResultEvent } from '../queues/result-event.ts';

/**
 * What the recorder does with a job's final outcome besides the job row: write the observed
 * state to the resource (a host's facts, a zone's serial, ...). Keyed by operation name.
 * An observer must be idempotent: the same outcome can arrive twice.
 */
export type Observer = (db: Knex, job: JobRow, event: ResultEvent) => Promise<void>;

export const observers: Record<string, Observer> = {};
