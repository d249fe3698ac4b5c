import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import pg from 'pg';
import type { BaseLogger } from 'pino';
import { describe } from '../errors.ts';
import { DATABASE_TIMEOUTS } from './connect.ts';
import { prepared } from './prepared.ts';

/** The PostgreSQL channel on which the recorder names jobs that reached a final state. */
export const JOB_FINISHED_CHANNEL = 'up_job_finished';
/** A NOTIFY payload holds at most 8,000 bytes: 200 ids of 37 bytes each. */
const IDS_PER_NOTIFICATION = 200;

/** The embedded database (PGlite) lives in one process: its recorder and gateway share an emitter. */
const inProcess = new WeakMap<Knex, EventEmitter>();
function emitterOf(db: Knex): EventEmitter {
  let emitter = inProcess.get(db);
  if (!emitter) inProcess.set(db, (emitter = new EventEmitter().setMaxListeners(0)));
  return emitter;
}

/** PostgreSQL over the network, as opposed to the embedded PGlite. */
const serverUrl = (db: Knex): string | null =>
  db.client.config.client === 'pg' ? ((db.client.config.connection as { connectionString?: string }).connectionString ?? null) : null;

/** Tells every gateway that these jobs are final; call it after the commit that made them so. */
export async function notifyJobsFinished(db: Knex, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  if (!serverUrl(db)) {
    emitterOf(db).emit('finished', ids);
    return;
  }
  const payloads: string[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) payloads.push(ids.slice(i, i + IDS_PER_NOTIFICATION).join(','));
  await notifyStatement(db, [JOB_FINISHED_CHANNEL, payloads]);
}
const notifyStatement = prepared('up_notify_job_finished', 'SELECT pg_notify(?, payload) FROM unnest(?::text[]) AS payload');

export interface FinishedJobsListener {
  close(): Promise<void>;
}

/**
 * Hears the ids of jobs that became final: on PostgreSQL through a LISTEN connection of its
 * own, made again with backoff when lost; on the embedded database in process. `onGap` says
 * that notifications may have been missed (the connection was lost, or has just been made):
 * whoever waits should look again.
 */
export function listenFinishedJobs(
  db: Knex,
  handlers: { onFinished(ids: readonly string[]): void; onGap(): void },
  log: Pick<BaseLogger, 'warn'>,
): FinishedJobsListener {
  const url = serverUrl(db);
  if (!url) {
    const emitter = emitterOf(db);
    emitter.on('finished', handlers.onFinished);
    return { close: async () => void emitter.off('finished', handlers.onFinished) };
  }
  let client: pg.Client | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let backoffMs = 500;

  const connect = async () => {
    timer = null;
    if (closed) return;
    const candidate = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: DATABASE_TIMEOUTS.connectMs,
      query_timeout: DATABASE_TIMEOUTS.queryMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: DATABASE_TIMEOUTS.keepAliveMs,
    });
    candidate.on('notification', (n) => {
      if (n.channel === JOB_FINISHED_CHANNEL && n.payload) handlers.onFinished(n.payload.split(','));
    });
    candidate.on('error', () => lost(candidate));
    candidate.on('end', () => lost(candidate));
    try {
      await candidate.connect();
      await candidate.query(`LISTEN ${JOB_FINISHED_CHANNEL}`);
      if (closed) return void candidate.end().catch(() => undefined);
      client = candidate;
      backoffMs = 500;
      handlers.onGap();
    } catch (error) {
      log.warn({ err: describe(error), retryInMs: backoffMs }, 'could not listen for finished jobs; long polls fall back to polling');
      candidate.end().catch(() => undefined);
      retry();
    }
  };
  const lost = (which: pg.Client) => {
    if (client !== which) return;
    client = null;
    which.end().catch(() => undefined);
    if (closed) return;
    log.warn('lost the connection that listens for finished jobs; reconnecting');
    handlers.onGap();
    retry();
  };
  const retry = () => {
    if (closed || timer) return;
    timer = setTimeout(connect, backoffMs);
    timer.unref();
    backoffMs = Math.min(backoffMs * 2, 10_000);
  };

  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const last = client;
      client = null;
      await last?.end().catch(() => undefined);
    },
  };
}
