import type { Knex } from 'knex';
import type { JobRow } from './jobs-store.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { checkObserver } from './health/observer.ts';
import { domains } from './domains.ts';
import type { ObserverContext } from './observe.ts';

/**
 * What the recorder does with a job's final outcome besides the job row: write the observed
 * state to the resource (a host's facts, a zone's serial, ...). Keyed by operation name.
 * An observer must be idempotent: the same outcome can arrive twice.
 */
export type Observer = (db: Knex, job: JobRow, event: ResultEvent, context: ObserverContext) => Promise<void>;

export const observers: Record<string, Observer> = Object.fromEntries(
  domains.flatMap((d) => d.observers ?? []).map((entry) => [entry.op.name, entry.observe]),
);

/**
 * For operations published without a job row (health checks): the outcome arrives alone,
 * and its result names the resource it is about.
 */
export type ResultObserver = (db: Knex, event: ResultEvent) => Promise<void>;

export const resultObservers: Record<string, ResultObserver> = Object.fromEntries(
  domains.flatMap((d) => d.checks ?? []).map((kind) => [kind.op.name, checkObserver(kind)]),
);
