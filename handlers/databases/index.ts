import type { Handler } from '../runtime/define.ts';
import databaseApply from './database.apply/handler.ts';
import databaseDelete from './database.delete/handler.ts';
import databaseDump from './database.dump/handler.ts';
import databaseImport from './database.import/handler.ts';
import databaseUserApply from './database.user.apply/handler.ts';
import databaseUserDelete from './database.user.delete/handler.ts';
import healthCheckDatabase from './health.check.database/handler.ts';
import healthRepairDatabase from './health.repair.database/handler.ts';
import healthCheckDbServer from './health.check.db-server/handler.ts';
import healthRepairDbServer from './health.repair.db-server/handler.ts';
import dbServerSetup from './database.server.setup/handler.ts';

/** The handlers of the databases domain, one per operation. */
export const databasesHandlers: readonly Handler[] = [
  dbServerSetup,
  databaseApply,
  databaseDelete,
  databaseUserApply,
  databaseUserDelete,
  databaseDump,
  databaseImport,
  healthCheckDatabase,
  healthRepairDatabase,
  healthCheckDbServer,
  healthRepairDbServer,
];
