import type { CommandModule } from 'yargs';
import { loadConfig } from '../../lib/config.ts';
import { CliError } from '../client.ts';
import type { Role, RoleOptions } from '../roles.ts';

// The roles' code (fastify, knex, every handler) loads only when a role starts, so that
// client commands such as `up ping` start fast.
const registry = () => import('../../handlers/registry.ts');

/** Runs roles until SIGINT/SIGTERM, then shuts down gracefully. */
async function runUntilSignalled(roles: Role[], extra: Partial<RoleOptions> = {}): Promise<void> {
  const config = loadConfig();
  const { createLogger } = await import('../../lib/log.ts');
  const { startRoles } = await import('../roles.ts');
  const log = createLogger(config.logLevel);
  if (!config.amqpUrl && roles.length < 4) {
    throw new CliError('a role on its own needs UP_AMQP_URL and UP_DATABASE_URL; `up serve` runs every role in one process');
  }
  const running = await startRoles({ config, log, roles: new Set(roles), ...extra });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      running.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export const serve: CommandModule = {
  command: 'serve',
  describe: 'run every role in one process (without UP_DATABASE_URL/UP_AMQP_URL: embedded PGlite and in-process bus)',
  builder: (y) => y.option('concurrency', { type: 'number', describe: "messages in flight per operation (default: each operation's own)" }),
  handler: async (argv) =>
    runUntilSignalled(['gateway', 'handlers', 'recorder', 'scheduler'], { handlers: (await registry()).handlers, concurrency: argv.concurrency as number | undefined }),
};

export const gateway: CommandModule = {
  command: 'gateway',
  describe: 'run the HTTP API (and its outbox relay)',
  handler: () => runUntilSignalled(['gateway']),
};

export const handler: CommandModule = {
  command: 'handler <ops..>',
  describe: "run the handlers of the named operations (globs such as 'system.*')",
  builder: (y) =>
    y
      .positional('ops', { type: 'string', array: true, describe: 'operation names or globs' })
      .option('concurrency', { type: 'number', describe: "messages in flight per operation (default: each operation's own)" }),
  handler: async (argv) => {
    const { selectOperations } = await import('../../queues/catalogue.ts');
    const { handlers } = await registry();
    let ops;
    try {
      ops = selectOperations(argv.ops as string[]);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    const chosen = handlers.filter((h) => ops.includes(h.op));
    await runUntilSignalled(['handlers'], { handlers: chosen, concurrency: argv.concurrency as number | undefined });
  },
};

export const recorder: CommandModule = {
  command: 'recorder',
  describe: 'record job results and dead letters in the database',
  handler: () => runUntilSignalled(['recorder']),
};

export const scheduler: CommandModule = {
  command: 'scheduler',
  describe: 'run timed tasks (outbox reconciler, canary); one instance is active',
  handler: () => runUntilSignalled(['scheduler']),
};

export const db: CommandModule = {
  command: 'db <action>',
  describe: 'database maintenance',
  builder: (y) => y.positional('action', { choices: ['migrate'] as const, describe: 'migrate: bring the schema up to date' }),
  handler: async () => {
    const config = loadConfig();
    const { openDatabase } = await import('../../lib/db/connect.ts');
    const { migrateLatest } = await import('../../lib/db/migrate.ts');
    const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
    try {
      const applied = await migrateLatest(database.knex);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
    } finally {
      await database.close();
    }
  },
};
