import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The caller of `add` stopped waiting: its deadline passed. `inFlight` false: its item was
 * taken out and will never be written. True: it had gone out with a write that may still
 * succeed; `late` of `add` hears how that ended.
 */
export class BatchDeadlinePassed extends Error {
  override readonly name = 'BatchDeadlinePassed';
  constructor(readonly inFlight: boolean) {
    super(inFlight ? 'the deadline passed while the write was under way' : 'the deadline passed; the item was not written');
  }
}

interface Entry<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
  state: 'waiting' | 'writing' | 'abandoned' | 'done';
  /** performance.now() after which the caller stops waiting. */
  deadline?: number;
  late?: (value: R) => void;
}

/** How often deadlines are looked at while items with one are waiting or being written. */
const DEADLINE_TICK_MS = 100;

/**
 * Natural batching: the first item goes out at once; items that arrive while a write is in
 * flight wait and go together in the next one. Alone, an item costs what it did unbatched;
 * under load one round trip (a commit, a broker confirm) carries many items, which is how a
 * 2-core machine keeps up with thousands of jobs a second.
 */
export class Batcher<T, R> {
  private waiting: Entry<T, R>[] = [];
  private readonly writing = new Set<Entry<T, R>[]>();
  private readonly writers = new Set<Promise<void>>();
  /** Writers still taking items; counted down in the same step as their last look at `waiting`. */
  private draining = 0;
  /** One timer for every deadline (a timer or an AbortSignal per item costs more than the item's whole write under load). */
  private sweeper: NodeJS.Timeout | null = null;

  /**
   * @param write writes a batch and answers one result per item, in order; when it throws, every
   *   item of the batch fails with that error unless `splitOnError` allows writing them one by one.
   */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly options: {
      maxBatch?: number;
      /**
       * Wait this long before a write, so that what arrives meanwhile goes with it: for writes off
       * anyone's critical path (bookkeeping), where fewer round trips beat promptness.
       */
      lingerMs?: number;
      /** Writes in flight at once (default 1); more hide a slow round trip (a broker confirm) under load. */
      maxInFlight?: number;
      splitOnError?: (error: unknown) => boolean;
    } = {},
  ) {}

  /**
   * Queues an item for the next write. With `deadlineMs`, the caller stops waiting after that
   * long, even while a write hangs: the promise rejects with `BatchDeadlinePassed` (give or
   * take DEADLINE_TICK_MS).
   */
  add(item: T, options: { deadlineMs?: number; late?: (value: R) => void } = {}): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: Entry<T, R> = { item, resolve, reject, state: 'waiting', late: options.late };
      if (options.deadlineMs !== undefined) {
        entry.deadline = performance.now() + options.deadlineMs;
        this.sweeper ??= setInterval(() => this.sweep(), DEADLINE_TICK_MS);
      }
      this.waiting.push(entry);
      if (this.draining < (this.options.maxInFlight ?? 1)) {
        this.draining++;
        const writer: Promise<void> = this.drainLoop().finally(() => this.writers.delete(writer));
        this.writers.add(writer);
      }
    });
  }

  /** Resolves once nothing is waiting or being written. */
  async idle(): Promise<void> {
    while (this.writers.size > 0) await Promise.all([...this.writers]);
  }

  /** Answers the callers whose deadline passed; stops when nothing left has a deadline. */
  private sweep(): void {
    const now = performance.now();
    const expired = (e: Entry<T, R>) => e.deadline !== undefined && e.deadline <= now;
    if (this.waiting.some(expired)) {
      const gone = this.waiting.filter(expired);
      this.waiting = this.waiting.filter((e) => !expired(e));
      for (const e of gone) {
        e.state = 'done';
        e.reject(new BatchDeadlinePassed(false));
      }
    }
    for (const batch of this.writing) {
      for (const e of batch) {
        if (e.state === 'writing' && expired(e)) {
          e.state = 'abandoned';
          e.reject(new BatchDeadlinePassed(true));
        }
      }
    }
    const pending = (e: Entry<T, R>) => e.deadline !== undefined && (e.state === 'waiting' || e.state === 'writing');
    if (!this.waiting.some(pending) && ![...this.writing].some((batch) => batch.some(pending))) {
      clearInterval(this.sweeper!);
      this.sweeper = null;
    }
  }

  private async drainLoop(): Promise<void> {
    try {
      // Starts on the next microtask, so that items added in the same tick share the first write.
      await (this.options.lingerMs ? sleep(this.options.lingerMs) : Promise.resolve());
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.options.maxBatch ?? 500);
        for (const entry of batch) entry.state = 'writing';
        this.writing.add(batch);
        try {
          await this.writeBatch(batch);
        } finally {
          this.writing.delete(batch);
        }
      }
    } finally {
      // Not in the promise's own finally, a microtask later: an item added in between would
      // find a writer that no longer takes items, and wait for the next caller's.
      this.draining--;
    }
  }

  private async writeBatch(batch: Entry<T, R>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((w) => w.item));
      batch.forEach((w, i) => this.settle(w, { value: results[i] }));
    } catch (error) {
      if (batch.length > 1 && this.options.splitOnError?.(error)) {
        // One bad item must not fail the others that happened to share its round trip.
        for (const w of batch) await this.writeBatch([w]);
      } else {
        batch.forEach((w) => this.settle(w, { error }));
      }
    }
  }

  private settle(entry: Entry<T, R>, outcome: { value: R } | { error: unknown }): void {
    const abandoned = entry.state === 'abandoned';
    entry.state = 'done';
    if (abandoned) {
      if ('value' in outcome) entry.late?.(outcome.value);
    } else if ('value' in outcome) {
      entry.resolve(outcome.value);
    } else {
      entry.reject(outcome.error);
    }
  }
}
