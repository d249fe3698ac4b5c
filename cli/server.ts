import { loadConfig } from '../lib/config.ts';
import { CliError } from './errors.ts';
import type { Role } from './roles.ts';

/**
 * The server half of the role commands (`up serve`, `up gateway`, ...): fastify, knex, the
 * broker, every handler. Loaded only when a role command runs (cli/load-server.ts), never by
 * a client command and never into the client bundle.
 */

/** Runs roles in this process until SIGINT/SIGTERM, then shuts down gracefully. */
export async function runRoles(roles: Role[], options: { ops?: string[]; concurrency?: number } = {}): Promise<void> {
  const config = loadConfig();
  const { createLogger } = await import('../lib/log.ts');
  const { startRoles } = await import('./roles.ts');
  const log = createLogger(config.logLevel);
  if (!config.amqpUrl && roles.length < 4) {
    throw new CliError('a role on its own needs UP_AMQP_URL and UP_DATABASE_URL; `up serve` runs every role in one process');
  }
  const handlers = roles.includes('handlers') ? await chosenHandlers(options.ops) : undefined;
  const running = await startRoles({ config, log, roles: new Set(roles), handlers, concurrency: options.concurrency });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      running.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** The handlers of the operations named (globs such as 'system.*'); all without names. */
async function chosenHandlers(patterns: string[] | undefined) {
  const { handlers } = await import('../handlers/registry.ts');
  if (!patterns) return handlers;
  const { selectOperations } = await import('../queues/catalogue.ts');
  let ops;
  try {
    ops = selectOperations(patterns);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return handlers.filter((h) => ops.includes(h.op));
}

/** `up db migrate`: the migrations it applied. */
export async function migrate(): Promise<string[]> {
  const config = loadConfig();
  const { openDatabase } = await import('../lib/db/connect.ts');
  const { migrateLatest } = await import('../lib/db/migrate.ts');
  const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await migrateLatest(database.knex);
  } finally {
    await database.close();
  }
}
