/**
 * What the recorder does with an operation's final outcome besides the job row: it writes the
 * observed state to the resource (a host's facts, a zone's serial). Observers are typed by
 * their operation: the job's payload and the outcome's result have the operation's schema
 * types (handlers validated both), so a wrong field is a compile error. An observer must be
 * idempotent: the same outcome can arrive twice.
 */
import type { Knex } from 'knex';
import type { JobRow } from './jobs-store.ts';
import type { Operation, PayloadOf, ResultOf } from '../queues/operation.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import type { Domain } from './domain.ts';

/** The job row, its payload typed by the operation. */
export type ObservedJob<O extends Operation> = Omit<JobRow, 'payload'> & { payload: PayloadOf<O> };

/** The final outcome, its result typed by the operation (present when it succeeded). */
export type Outcome<O extends Operation> = Omit<ResultEvent, 'result'> & { result?: ResultOf<O> };

/** What an observer may need beyond the database. */
export interface ObserverContext {
  /** Every domain's declarations (a role's set-up, say). */
  domains: readonly Domain[];
  /**
   * Publishes follow-up jobs the observer wrote (and committed): at once, rather than at the
   * outbox reconciler's next look. Never throws; what fails stays for the reconciler.
   */
  publish(jobs: readonly JobRow[]): void;
}

export type Observer<O extends Operation> = (db: Knex, job: ObservedJob<O>, outcome: Outcome<O>, context: ObserverContext) => Promise<void>;

export interface ObserverEntry {
  op: Operation;
  observe: (db: Knex, job: JobRow, outcome: ResultEvent, context: ObserverContext) => Promise<void>;
}

/** An observer of one operation's outcomes. */
export const observe = <O extends Operation>(op: O, fn: Observer<O>): ObserverEntry => ({
  op,
  // The recorder hands over only outcomes of `op`, whose payload and result were validated.
  observe: fn as unknown as ObserverEntry['observe'],
});

/** An observer of an operation published without a job row (a health check): the outcome alone. */
export interface CheckObserverEntry {
  op: Operation;
  observe: (db: Knex, outcome: ResultEvent) => Promise<void>;
}

export const observeCheck = <O extends Operation>(op: O, fn: (db: Knex, outcome: Outcome<O>) => Promise<void>): CheckObserverEntry => ({
  op,
  observe: fn as unknown as CheckObserverEntry['observe'],
});
