import pg from 'pg';
import type { Logger } from 'pino';

/** Holds leadership while it exists; `isLeader` can turn false when its connection dies. */
export interface Leadership {
  isLeader(): boolean;
  release(): Promise<void>;
}

const LOCK_KEY = 0x75_70_5f_73; // "up_s": one scheduler is active per database

/**
 * One active scheduler per database: a session-level Postgres advisory lock on a connection
 * of its own. Standbys try again every `retryMs`; a leader whose connection drops steps down.
 * The embedded database has one process, which is always the leader.
 */
export function electLeader(options: { databaseUrl: string | null; log: Logger; retryMs?: number }): Leadership {
  if (!options.databaseUrl) return { isLeader: () => true, release: async () => undefined };
  const { log } = options;
  let client: pg.Client | null = null;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;

  const attempt = async () => {
    timer = null;
    if (stopped) return;
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: options.databaseUrl!, connectionTimeoutMillis: 3_000 });
        c.on('error', () => stepDown('leader connection lost'));
        await c.connect();
        client = c;
      }
      const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY]);
      if (rows[0].locked && !leader) log.info('this scheduler is now the active one');
      leader = rows[0].locked;
    } catch (error) {
      stepDown(`leader election failed: ${(error as Error).message}`);
    }
    if (!stopped && !leader) timer = setTimeout(attempt, options.retryMs ?? 5_000);
  };

  const stepDown = (why: string) => {
    if (leader) log.warn(why);
    leader = false;
    client?.end().catch(() => undefined);
    client = null;
    if (!stopped && !timer) timer = setTimeout(attempt, options.retryMs ?? 5_000);
  };

  void attempt();
  return {
    isLeader: () => leader,
    async release() {
      stopped = true;
      if (timer) clearTimeout(timer);
      leader = false;
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}
