import type { Handler } from './runtime/define.ts';
import { appsHandlers } from './apps/index.ts';
import { certificatesHandlers } from './certificates/index.ts';
import { containersHandlers } from './containers/index.ts';
import { dnsHandlers } from './dns/index.ts';
import { hostsHandlers } from './hosts/index.ts';
import { proxiesHandlers } from './proxies/index.ts';
import { systemHandlers } from './system/index.ts';
import { usersHandlers } from './users/index.ts';
import { websitesHandlers } from './websites/index.ts';
import { databasesHandlers } from './databases/index.ts';
import { mailHandlers } from './mail/index.ts';

/** One handler per operation, by domain; `up handler <ops...>` picks from here. */
export const handlers: readonly Handler[] = [
  ...systemHandlers,
  ...hostsHandlers,
  ...usersHandlers,
  ...dnsHandlers,
  ...proxiesHandlers,
  ...websitesHandlers,
  ...certificatesHandlers,
  ...containersHandlers,
  ...appsHandlers,
  ...databasesHandlers,
  ...mailHandlers,
];

export const handlerFor = (op: string): Handler | undefined => handlers.find((h) => h.op.name === op);
