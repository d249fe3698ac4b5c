import type { Knex } from 'knex';
import type { AlarmMailSettings } from '../lib/config.ts';
import type { Logger } from 'pino';
import { getJob } from '../gateway/jobs-store.ts';
import type { Outbox } from '../gateway/outbox.ts';
import { describe } from '../lib/errors.ts';
import { systemPing } from '../queues/system/ops.ts';
import type { Leadership } from './leader.ts';
import { recordCheck } from '../gateway/health/store.ts';
import type { Bus } from '../queues/bus.ts';
import { FAIL_AFTER } from '../gateway/health/policy.ts';
import { publishHealthRound } from './health.ts';
import { domains } from '../gateway/domains.ts';
import { deliverAlarms } from './notifier.ts';

import { recordStuckJobs, watchOverdueJobs } from './watchdog.ts';

export interface SchedulerOptions {
  db: Knex;
  bus: Bus;
  outbox: Outbox;
  leadership: Leadership;
  log: Logger;
  reconcileIntervalMs: number;
  canaryIntervalMs: number;
  canaryTimeoutMs: number;
  healthIntervalMs: number;
  /** How often certificates due for renewal (or a retry) get a job. */
  certRenewIntervalMs?: number;
  alarmWebhookUrl: string | null;
  alarmMail: AlarmMailSettings | null;
}

export interface Scheduler {
  stop(): Promise<void>;
}

/** A task that runs every `everyMs` on the active scheduler only, never overlapping itself. */
function every(everyMs: number, leadership: Leadership, task: () => Promise<void>, onError: (e: unknown) => void) {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running || !leadership.isLeader()) return;
    running = task()
      .catch(onError)
      .finally(() => (running = null));
  }, everyMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** Timed publishers: the outbox reconciler, the watchdog of overdue jobs, the pipeline canary, health rounds, renewals, alarms. */
export function startScheduler(options: SchedulerOptions): Scheduler {
  const { db, outbox, leadership, log } = options;
  const onError = (task: string) => (error: unknown) => log.warn({ task, err: describe(error) }, 'scheduled task failed');

  // Every round, and at once when the broker is back after an outage: the outbox filled
  // meanwhile goes out without waiting for the next round.
  let wasReady = true;
  let lastRound = 0;
  const stopReconciler = every(
    Math.min(1_000, options.reconcileIntervalMs),
    leadership,
    async () => {
      const ready = options.bus.isReady();
      const back = ready && !wasReady;
      wasReady = ready;
      if (!ready || (!back && Date.now() - lastRound < options.reconcileIntervalMs)) return;
      lastRound = Date.now();
      await outbox.reconcile(Math.max(1_000, Math.min(options.reconcileIntervalMs, 10_000)));
    },
    onError('reconcile'),
  );

  // Overdue by more than a few rounds: a late recorder or a slow round is not a lost job.
  const graceMs = Math.max(5_000, 3 * options.reconcileIntervalMs);
  const stopWatchdog = every(
    options.reconcileIntervalMs,
    leadership,
    async () => {
      await recordStuckJobs(db, await watchOverdueJobs({ db, bus: options.bus, log, graceMs }));
    },
    onError('watchdog'),
  );

  const stopCanary = every(
    options.canaryIntervalMs,
    leadership,
    async () => {
      const started = Date.now();
      const { job } = await outbox.submit({ op: systemPing, payload: {}, actor: 'system:scheduler', tenant: null });
      const deadline = started + options.canaryTimeoutMs;
      const pipeline = { type: 'pipeline', key: 'system.ping' };
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(250, options.canaryTimeoutMs)));
        const now = await getJob(db, job.id);
        if (now?.status === 'succeeded') {
          const ms = Date.now() - started;
          log.debug({ jobId: job.id, ms }, 'canary came back');
          await recordCheck(db, { resource: pipeline, healthy: true, problems: [], measurements: { roundTripMs: ms } }, new Date(), {
            failAfter: FAIL_AFTER,
          });
          return;
        }
      }
      log.error(
        { jobId: job.id, timeoutMs: options.canaryTimeoutMs },
        'the system.ping canary did not come back in time: the pipeline is not healthy',
      );
      const message = `the system.ping canary did not come back within ${options.canaryTimeoutMs} ms (job ${job.id})`;
      await recordCheck(
        db,
        { resource: pipeline, healthy: false, problems: [{ cause: 'canary-timeout', message }], measurements: {} },
        new Date(),
        { failAfter: FAIL_AFTER },
      );
    },
    onError('canary'),
  );

  const rounds = new AbortController();
  const stopHealth = every(
    options.healthIntervalMs,
    leadership,
    async () => {
      await publishHealthRound({ db, bus: options.bus, log, intervalMs: options.healthIntervalMs, signal: rounds.signal });
    },
    onError('health'),
  );

  // Each domain's timed work (certificate renewals, the content store's collection, …).
  const stopTimers = domains
    .flatMap((d) => d.timers ?? [])
    .map((timer) => {
      const intervalMs = timer.everyMs({ certRenewIntervalMs: options.certRenewIntervalMs });
      return every(intervalMs, leadership, () => timer.run({ db, outbox, log, intervalMs }).then(() => undefined), onError(timer.name));
    });

  const stopNotifier = every(
    1_000,
    leadership,
    async () => {
      await deliverAlarms({ db, channels: { webhookUrl: options.alarmWebhookUrl, mail: options.alarmMail }, log });
    },
    onError('alarms'),
  );

  log.info({ reconcileIntervalMs: options.reconcileIntervalMs, canaryIntervalMs: options.canaryIntervalMs }, 'scheduler started');
  return {
    async stop() {
      rounds.abort();
      await Promise.all([
        stopReconciler(),
        stopWatchdog(),
        stopCanary(),
        stopHealth(),
        stopNotifier(),
        ...stopTimers.map((stop) => stop()),
      ]);
    },
  };
}
