/**
 * Failed attempts per key (a source address, a claimed token id): the first `free` within
 * `windowMs` pass untouched; every further one is throttled for twice as long as the one
 * before (from `firstDelayMs` up to `maxDelayMs`), for as long as failures keep coming. Only
 * failures are counted and only failures are throttled, so a guesser cannot lock anyone out.
 * The map keeps the `maxKeys` most recently failing keys: memory stays bounded under a flood.
 */
export class FailureThrottle {
  private readonly seen = new Map<string, { count: number; since: number; until: number }>();
  private readonly free: number;
  private readonly windowMs: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxKeys: number;

  constructor(options: { free: number; windowMs: number; firstDelayMs?: number; maxDelayMs?: number; maxKeys?: number }) {
    this.free = options.free;
    this.windowMs = options.windowMs;
    this.firstDelayMs = options.firstDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 3_600_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** Records a failure; returns how long (ms) the key is throttled for now, 0 while it is within its free failures. */
  fail(key: string, now = Date.now()): number {
    let entry = this.seen.get(key);
    if (!entry || (now - entry.since > this.windowMs && now >= entry.until)) entry = { count: 0, since: now, until: 0 };
    entry.count += 1;
    const excess = entry.count - this.free;
    const delay = excess > 0 ? Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** Math.min(excess - 1, 40)) : 0;
    if (delay > 0) entry.until = now + delay;
    this.seen.delete(key); // re-insert: the map's order is least recently failed first
    this.seen.set(key, entry);
    if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    return delay;
  }

  /** How many keys are remembered (tests, metrics). */
  get size(): number {
    return this.seen.size;
  }
}
