import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { handlers } from '../../handlers/registry.ts';
import { startRoles, type Role, type Running } from '../../cli/roles.ts';

export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * Starts roles in this process. Without URLs: the embedded default (PGlite in memory,
 * in-process bus). The HTTP port is chosen by the OS.
 */
export async function startStack(options: { databaseUrl?: string; amqpUrl?: string; roles?: Role[]; env?: Record<string, string> } = {}): Promise<
  Running & { dataDir: string; auth: { authorization: string }; shutdown(): Promise<void> }
> {
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
    log: createLogger(config.logLevel),
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
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
