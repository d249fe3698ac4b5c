import type { Operation } from '../operation.ts';
import { healthCheckDatabase, healthCheckDbServer, healthRepairDatabase, healthRepairDbServer } from './health.ts';
import {
  databaseApply,
  databaseDelete,
  databaseDump,
  databaseImport,
  databaseUserApply,
  databaseUserDelete,
  dbServerSetup,
} from './ops.ts';

/** The operations of the databases domain. */
export const databasesOperations: readonly Operation[] = [
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
