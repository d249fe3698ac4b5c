import type { FastifyInstance } from 'fastify';
import { buildGateway } from '../../gateway/app.ts';
import { Outbox } from '../../gateway/outbox.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { migrateLatest } from '../../lib/db/migrate.ts';
import { createLogger } from '../../lib/log.ts';
import { Bus } from '../../queues/bus.ts';
import { operations } from '../../queues/catalogue.ts';
import { MemoryTransport } from '../../queues/memory-transport.ts';

/** The gateway alone, on an in-memory database and bus: for tests of the API's own rules. */
export async function memoryGateway(adminToken: string): Promise<{ app: FastifyInstance; database: Database; close(): Promise<void> }> {
  const database = openDatabase({ url: null, inMemory: true });
  await migrateLatest(database.knex);
  const log = createLogger('silent');
  const bus = new Bus(new MemoryTransport(), operations);
  await bus.start();
  const app = await buildGateway({ db: database.knex, bus, outbox: new Outbox(database.knex, bus, log), adminToken, log });
  await app.ready();
  return {
    app,
    database,
    close: async () => {
      await app.close();
      await bus.close();
      await database.close();
    },
  };
}
