import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, RetryableError } from '../../../lib/errors.ts';
import { systemPing } from '../../../queues/system/ops.ts';
import { defineHandler } from '../../runtime/define.ts';

/** Asked once: hostname() is a system call, and this answer is on the hot path of the canary. */
const self = { host: hostname(), pid: process.pid };

export default defineHandler({
  op: systemPing,
  async run(payload, ctx) {
    // ctx.signal only when waiting: the runtime makes the signal on first use.
    if (payload.delayMs) await sleep(payload.delayMs, undefined, { signal: ctx.signal });
    const { job } = ctx;
    const failing = payload.failAttempts === undefined || job.attempt <= payload.failAttempts;
    if (payload.fail === 'permanent') throw new PermanentError('asked to fail permanently');
    if (payload.fail === 'transient' && failing) throw new RetryableError(`asked to fail transiently (attempt ${job.attempt})`);
    return { handler: self, at: new Date().toISOString() };
  },
});
