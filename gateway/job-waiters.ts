import type { Knex } from 'knex';
import type { BaseLogger } from 'pino';
import { listenFinishedJobs, type FinishedJobsListener } from '../lib/db/job-finished.ts';
import { HttpError } from './plugins/errors.ts';

/**
 * A long poll looks at its job again this often even without a notification: one that was
 * missed (a recorder that died between its commit and its NOTIFY) costs at most this delay.
 */
export const FALLBACK_POLL_MS = 10_000;
/** Long polls one user may hold at once; each is a request held open and a slow poll. */
export const LONG_POLLS_PER_USER = 32;

export interface JobWatch {
  /**
   * Counts this watch as a long poll of `holder` (a user; null: not limited).
   * @throws HttpError 429 when the holder already has LONG_POLLS_PER_USER long polls open
   */
  hold(holder: string | null): void;
  /** Resolves when the job may have changed, after `ms`, or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/**
 * Long polls of `GET /v1/jobs/{id}?waitMs=` wait here for the recorder's word that their job
 * is final (PostgreSQL LISTEN/NOTIFY, or in process on the embedded database), instead of
 * reading the job row several times a second each.
 */
export class JobWaiters {
  private readonly watches = new Map<string, Set<() => void>>();
  private readonly heldBy = new Map<string, number>();
  private readonly listener: FinishedJobsListener;

  constructor(db: Knex, log: Pick<BaseLogger, 'warn'>) {
    this.listener = listenFinishedJobs(db, { onFinished: (ids) => this.wake(ids), onGap: () => this.wakeAll() }, log);
  }

  /** Starts watching a job: a word about it from now on is not missed, even before `next`. */
  watch(jobId: string): JobWatch {
    let woken = false;
    let resolveNext: (() => void) | null = null;
    const wake = () => {
      if (resolveNext) resolveNext();
      else woken = true;
    };
    let watchers = this.watches.get(jobId);
    if (!watchers) this.watches.set(jobId, (watchers = new Set()));
    watchers.add(wake);
    let holding: string | null = null;
    let closed = false;
    return {
      hold: (holder) => {
        if (holder === null || holding !== null) return;
        const held = this.heldBy.get(holder) ?? 0;
        if (held >= LONG_POLLS_PER_USER) {
          throw new HttpError(
            429,
            'too_many_requests',
            `too many long polls: at most ${LONG_POLLS_PER_USER} GET /v1/jobs/{id}?waitMs=… may wait at once per user; wait for fewer jobs at once, or ask without waitMs`,
          );
        }
        this.heldBy.set(holder, held + 1);
        holding = holder;
      },
      next: (ms, signal) => {
        if (woken || signal?.aborted) {
          woken = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            resolveNext = null;
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
          };
          const timer = setTimeout(done, ms);
          signal?.addEventListener('abort', done, { once: true });
          resolveNext = done;
        });
      },
      close: () => {
        if (closed) return;
        closed = true;
        resolveNext?.();
        watchers.delete(wake);
        if (watchers.size === 0 && this.watches.get(jobId) === watchers) this.watches.delete(jobId);
        if (holding !== null) {
          const held = (this.heldBy.get(holding) ?? 1) - 1;
          if (held > 0) this.heldBy.set(holding, held);
          else this.heldBy.delete(holding);
        }
      },
    };
  }

  /** Long polls open now (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const watchers of this.watches.values()) n += watchers.size;
    return n;
  }

  close(): Promise<void> {
    this.wakeAll();
    return this.listener.close();
  }

  private wake(ids: readonly string[]): void {
    for (const id of ids) for (const wake of this.watches.get(id) ?? []) wake();
  }

  private wakeAll(): void {
    for (const watchers of this.watches.values()) for (const wake of watchers) wake();
  }
}
