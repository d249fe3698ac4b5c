import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { handlers } from '../../handlers/registry.ts';
import { startRoles, type Role, type Running } from '../../cli/roles.ts';
import { freshDatabase } from './postgres.ts';
import { freshVhost } from './rabbitmq.ts';

export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

export interface StackOptions {
  /** The embedded default: PGlite in memory and the in-process bus (its compile alone takes seconds). */
  embedded?: boolean;
  /** Otherwise a throwaway PostgreSQL database and RabbitMQ vhost are made, unless these are given. */
  databaseUrl?: string;
  amqpUrl?: string;
  roles?: Role[];
  env?: Record<string, string>;
  /** Where the roles' log lines go instead of stdout (a test that reads what was logged). */
  logTo?: { write(line: string): void };
}

/**
 * Starts roles in this process, on real PostgreSQL and RabbitMQ (a database and a vhost of
 * its own, removed by `shutdown`) or, with `embedded`, on the embedded default. The HTTP
 * port is chosen by the OS.
 */
export async function startStack(
  options: StackOptions = {},
): Promise<Running & { dataDir: string; auth: { authorization: string }; shutdown(): Promise<void> }> {
  const cleanups: (() => Promise<void>)[] = [];
  if (!options.embedded && !options.databaseUrl) {
    const database = await freshDatabase();
    cleanups.push(database.cleanup);
    options = { ...options, databaseUrl: database.url };
  }
  if (!options.embedded && !options.amqpUrl) {
    const vhost = await freshVhost();
    cleanups.push(vhost.cleanup);
    options = { ...options, amqpUrl: vhost.url };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'up-test-'));
  const config = loadConfig({
    UP_DATA_DIR: dataDir,
    UP_HTTP_PORT: '0',
    UP_ADMIN_TOKEN: TEST_TOKEN,
    UP_LOG_LEVEL: process.env.UP_TEST_LOG_LEVEL ?? 'silent',
    UP_CANARY_INTERVAL_MS: '3600000',
    UP_RECONCILE_INTERVAL_MS: '500',
    ...(options.databaseUrl ? { UP_DATABASE_URL: options.databaseUrl } : {}),
    ...(options.amqpUrl ? { UP_AMQP_URL: options.amqpUrl } : {}),
    ...options.env,
  });
  const running = await startRoles({
    config,
    log: createLogger(config.logLevel, 'up', options.logTo),
    roles: new Set(options.roles ?? ['gateway', 'handlers', 'recorder', 'scheduler']),
    handlers,
    inMemoryDatabase: !options.databaseUrl,
  });
  return {
    ...running,
    dataDir,
    auth: { authorization: `Bearer ${TEST_TOKEN}` },
    async shutdown() {
      await running.stop();
      for (const cleanup of cleanups) await cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
