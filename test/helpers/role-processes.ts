import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freshDatabase } from './postgres.ts';
import { runUp, spawnUp, type UpProcess } from './processes.ts';
import { TEST_TOKEN } from './stack.ts';

export interface RoleProcesses {
  baseUrl: string;
  /** The test's own connection to the job database. */
  db: pg.Pool;
  roles: UpProcess[];
  /** `up <args>` as one more process; resolves once it printed `ready`. */
  startRole(args: string[], ready: RegExp): Promise<UpProcess>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** POST /v1/system/ping; the job's id (asserts the 202). */
  ping(body?: unknown): Promise<string>;
  /** Waits until every job is final; fails naming how many are in which state. */
  waitFinal(ids: string[], timeoutMs?: number): Promise<{ id: string; status: string }[]>;
  stop(): Promise<void>;
}

/**
 * `up` as it runs in production, each role its own process (gateway, recorder, scheduler, one
 * handler for system.*), on `amqpUrl` and a throwaway PostgreSQL database.
 */
export async function startRoleProcesses(options: { amqpUrl: string; env?: Record<string, string> }): Promise<RoleProcesses> {
  const database = await freshDatabase();
  const env = {
    UP_DATABASE_URL: database.url,
    UP_AMQP_URL: options.amqpUrl,
    UP_ADMIN_TOKEN: TEST_TOKEN,
    UP_HTTP_PORT: '0',
    UP_DATA_DIR: '/tmp/up-test-role-processes',
    UP_CANARY_INTERVAL_MS: '3600000',
    ...options.env,
  };
  const roles: UpProcess[] = [];
  const db = new pg.Pool({ connectionString: database.url, max: 4 });
  const stop = async () => {
    await Promise.all(roles.map((p) => p.kill('SIGKILL')));
    await db.end();
    await database.cleanup();
  };
  try {
    const migrate = await runUp(['db', 'migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    const startRole = async (args: string[], ready: RegExp) => {
      const p = spawnUp(args, env);
      roles.push(p);
      await p.waitFor(ready);
      return p;
    };
    const [gateway] = await Promise.all([
      startRole(['gateway'], /gateway listening/),
      startRole(['recorder'], /recorder consuming/),
      startRole(['scheduler'], /scheduler started/),
      startRole(['handler', 'system.*'], /handlers consuming/),
    ]);
    const baseUrl = /"url":"(http:[^"]+)"/.exec(gateway.output())![1];
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const ping = async (body: unknown = {}) => {
      const res = await api('POST', '/v1/system/ping', body);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body.id as string;
    };
    const waitFinal = async (ids: string[], timeoutMs = 60_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await db.query(
          "SELECT id, status FROM jobs WHERE id = ANY($1) AND status IN ('succeeded','failed','dead','superseded')",
          [ids],
        );
        if (rows.length === ids.length) return rows;
        if (Date.now() > until) {
          const { rows: all } = await db.query('SELECT status, attempt, count(*)::int FROM jobs WHERE id = ANY($1) GROUP BY 1, 2', [ids]);
          assert.fail(`${ids.length - rows.length} of ${ids.length} jobs not final after ${timeoutMs} ms: ${JSON.stringify(all)}`);
        }
        await sleep(100);
      }
    };
    return { baseUrl, db, roles, startRole, api, ping, waitFinal, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
