import type { Knex } from 'knex';
import type { Bus } from '../queues/bus.ts';
import type { Outbox } from './outbox.ts';

/** What every route plugin gets. */
export interface GatewayContext {
  db: Knex;
  bus: Bus;
  outbox: Outbox;
}
