import { writeFileSync } from 'node:fs';
import { createLogger } from '../lib/log.ts';
import { openDatabase } from '../lib/db/connect.ts';
import { buildGateway } from '../gateway/app.ts';
import { Outbox } from '../gateway/outbox.ts';
import { Bus } from '../queues/bus.ts';
import { operations } from '../queues/catalogue.ts';
import { MemoryTransport } from '../queues/memory-transport.ts';

/** The gateway's OpenAPI document, built without a database connection or a broker. */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const log = createLogger('silent');
  const database = openDatabase({ url: null, inMemory: true });
  const bus = new Bus(new MemoryTransport(), operations);
  const app = await buildGateway({ db: database.knex, bus, outbox: new Outbox(database.knex, bus, log), adminToken: 'x'.repeat(32), log });
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  await database.close();
  return doc;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? 'openapi.json';
  writeFileSync(out, `${JSON.stringify(await openApiDocument(), null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}
