import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Natural batching: the first item goes out at once; items that arrive while a write is in
 * flight wait and go together in the next one. Alone, an item costs what it did unbatched;
 * under load one round trip (a commit, a broker confirm) carries many items, which is how a
 * 2-core machine keeps up with thousands of jobs a second.
 */
export class Batcher<T, R> {
  private waiting: { item: T; resolve: (value: R) => void; reject: (error: unknown) => void }[] = [];
  private readonly writers = new Set<Promise<void>>();

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

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.writers.size < (this.options.maxInFlight ?? 1)) {
        const writer: Promise<void> = this.drainLoop().finally(() => this.writers.delete(writer));
        this.writers.add(writer);
      }
    });
  }

  /** Resolves once nothing is waiting or being written. */
  async idle(): Promise<void> {
    while (this.writers.size > 0) await Promise.all([...this.writers]);
  }

  private async drainLoop(): Promise<void> {
    // Starts on the next microtask, so that items added in the same tick share the first write.
    await (this.options.lingerMs ? sleep(this.options.lingerMs) : Promise.resolve());
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch ?? 500);
      await this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: typeof this.waiting): Promise<void> {
    try {
      const results = await this.write(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i]));
    } catch (error) {
      if (batch.length > 1 && this.options.splitOnError?.(error)) {
        // One bad item must not fail the others that happened to share its round trip.
        for (const w of batch) await this.writeBatch([w]);
      } else {
        batch.forEach((w) => w.reject(error));
      }
    }
  }
}
