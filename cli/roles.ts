import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../lib/config.ts';
import { ensureAdminToken } from '../lib/admin-token.ts';
import { ensureSecretsKeyFile, loadSecretsKey } from '../lib/secrets/sealing.ts';
import { serveMetrics } from '../lib/metrics-server.ts';
import { openDatabase, type Database } from '../lib/db/connect.ts';
import { migrateLatest } from '../lib/db/migrate.ts';
import { buildGateway } from '../gateway/app.ts';
import { Outbox } from '../gateway/outbox.ts';
import { startRecorder } from '../gateway/recorder.ts';
import type { Handler } from '../handlers/runtime/define.ts';
import { startHandlers } from '../handlers/runtime/runtime.ts';
import { AmqpTransport } from '../queues/amqp-transport.ts';
import { Bus } from '../queues/bus.ts';
import { operations } from '../queues/catalogue.ts';
import { describe } from '../lib/errors.ts';
import { MemoryTransport } from '../queues/memory-transport.ts';
import { electLeader } from '../schedulers/leader.ts';
import { startScheduler } from '../schedulers/scheduler.ts';
import { reportStateMetrics } from '../schedulers/state-metrics.ts';

export type Role = 'gateway' | 'handlers' | 'recorder' | 'scheduler';

export interface RoleOptions {
  config: Config;
  log: Logger;
  roles: ReadonlySet<Role>;
  /** For the handlers role: which handlers, how many messages in flight each. */
  handlers?: readonly Handler[];
  concurrency?: number;
  /** Tests: the embedded database in memory instead of the data directory. */
  inMemoryDatabase?: boolean;
}

export interface Running {
  app: FastifyInstance | null;
  /** Where the gateway listens, when it runs. */
  url: string | null;
  /** Where this process serves /metrics and /healthz on their own (UP_METRICS_PORT), when it does. */
  metricsUrl: string | null;
  bus: Bus;
  database: Database | null;
  adminToken: string | null;
  stop(): Promise<void>;
}

/**
 * Starts the requested roles in this process. Handlers never open the database; every
 * other role does. Without UP_AMQP_URL the bus is in-process, which only makes sense when
 * every role shares this process (`up serve`).
 */
export async function startRoles(options: RoleOptions): Promise<Running> {
  const { config, log, roles } = options;
  const stops: (() => Promise<unknown>)[] = [];
  const needsDatabase = roles.has('gateway') || roles.has('recorder') || roles.has('scheduler');

  // First, so that a port already taken stops the start before anything else runs.
  let metricsUrl: string | null = null;
  if (config.metrics) {
    const metrics = await serveMetrics(config.metrics);
    metricsUrl = metrics.url;
    stops.push(() => metrics.close());
    log.info({ url: metrics.url }, 'metrics listening');
  }

  const transport = config.amqpUrl
    ? new AmqpTransport(config.amqpUrl, { managementUrl: config.amqpManagementUrl ?? undefined, logger: log.child({ component: 'amqp' }) })
    : new MemoryTransport();
  const bus = new Bus(transport, operations);
  // Consumers need the broker to exist; the gateway and scheduler can start without it.
  await startBus(bus, log, { wait: roles.has('handlers') || roles.has('recorder') });
  stops.push(() => bus.close());

  let database: Database | null = null;
  if (needsDatabase) {
    database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, inMemory: options.inMemoryDatabase });
    stops.unshift(() => database!.close());
    const applied = await migrateLatest(database.knex);
    if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
  }

  // Secrets: the embedded default (everything in this process, nothing configured) keeps its key
  // in the data directory; elsewhere the gateway and the containers handlers share the file.
  if (!process.env.UP_SECRETS_KEY_FILE?.trim() && !config.databaseUrl && !config.amqpUrl && roles.has('gateway') && roles.has('handlers')) {
    const file = ensureSecretsKeyFile(config.dataDir);
    process.env.UP_SECRETS_KEY_FILE = file;
    // This process's setting for as long as these roles run: roles started after them in the same process
    // (tests, a restart) must not find a key file in a data directory that may be gone by then.
    stops.push(async () => {
      if (process.env.UP_SECRETS_KEY_FILE === file) delete process.env.UP_SECRETS_KEY_FILE;
    });
  }
  // A key file that is there but wrong stops the start; none at all only disables secrets, said by the gateway.
  if (!loadSecretsKey() && roles.has('gateway')) {
    log.warn('UP_SECRETS_KEY_FILE is not set: secrets cannot be stored (503) or delivered to containers (their jobs fail)');
  }

  const outbox = database ? new Outbox(database.knex, bus, log.child({ component: 'outbox' })) : null;
  if (outbox) stops.unshift(() => outbox.drain());

  if (roles.has('recorder')) {
    const recorder = await startRecorder({ db: database!.knex, bus, log: log.child({ component: 'recorder' }) });
    stops.unshift(() => recorder.stop());
  }
  if (roles.has('handlers')) {
    const runtime = await startHandlers({
      bus,
      handlers: options.handlers ?? [],
      concurrency: options.concurrency,
      log: log.child({ component: 'handler' }),
    });
    stops.unshift(() => runtime.stop());
  }
  if (roles.has('scheduler')) {
    const leadership = electLeader({ databaseUrl: config.databaseUrl, log: log.child({ component: 'leader' }) });
    const scheduler = startScheduler({
      db: database!.knex,
      bus,
      outbox: outbox!,
      leadership,
      log: log.child({ component: 'scheduler' }),
      reconcileIntervalMs: config.reconcileIntervalMs,
      canaryIntervalMs: config.canaryIntervalMs,
      canaryTimeoutMs: config.canaryTimeoutMs,
      healthIntervalMs: config.healthIntervalMs,
      certRenewIntervalMs: config.certRenewIntervalMs,
      alarmWebhookUrl: config.alarmWebhookUrl,
      alarmMail: config.alarmMail,
    });
    stops.unshift(() => leadership.release());
    stops.unshift(() => scheduler.stop());
    // The state of the whole system (queues, backlog, dead letters, alarms, certificates) is
    // reported by the scheduler alone, not by every process that could read it.
    const state = reportStateMetrics({ db: database!.knex, bus, log: log.child({ component: 'metrics' }) });
    stops.unshift(async () => state.stop());
  }

  let app: FastifyInstance | null = null;
  let url: string | null = null;
  let adminToken: string | null = null;
  if (roles.has('gateway')) {
    const token = ensureAdminToken({ configured: config.adminToken, dataDir: config.dataDir });
    adminToken = token.token;
    if (token.created) {
      // Shown once, on purpose: it is the key to everything.
      process.stderr.write(
        `\nA new admin token was created and stored in ${config.dataDir}/admin-token (mode 0600):\n\n  ${token.token}\n\n`,
      );
    }
    app = await buildGateway({
      db: database!.knex,
      bus,
      outbox: outbox!,
      adminToken: token.token,
      trustProxy: config.trustProxy,
      metricsOnApiPort: config.metrics === null,
      log: log.child({ component: 'gateway' }),
    });
    url = await app.listen({ host: config.httpHost, port: config.httpPort });
    stops.unshift(() => app!.close());
    log.info({ url, database: database!.kind, bus: transport.kind }, 'gateway listening');
  }

  let stopped: Promise<void> | null = null;
  return {
    app,
    url,
    metricsUrl,
    bus,
    database,
    adminToken,
    stop: () =>
      (stopped ??= (async () => {
        for (const stop of stops) await stop().catch((error) => log.warn({ err: describe(error) }, 'error while stopping'));
      })()),
  };
}

/** A broker that is down at start is waited for, or (`wait: false`) connected in the background. */
async function startBus(bus: Bus, log: Logger, options: { wait: boolean }): Promise<void> {
  const attempt = () =>
    bus.start().then(
      () => true,
      (error) => {
        log.warn({ err: describe(error) }, 'broker unavailable; retrying');
        return false;
      },
    );
  if (await attempt()) return;
  const retry = async (): Promise<void> => {
    while (!(await attempt())) await new Promise((r) => setTimeout(r, 2_000).unref());
    log.info('broker connected');
  };
  if (options.wait) await retry();
  else void retry();
}
