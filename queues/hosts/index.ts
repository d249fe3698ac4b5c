import type { Operation } from '../operation.ts';
import { hostKeyscan } from './keyscan.ts';
import { hostProbe } from './probe.ts';
import { hostPrepare } from './prepare.ts';
import { hostUpdate } from './update.ts';
import { healthCheckHost } from './health.ts';
import { healthCheckSecurity, healthRepairSecurity } from './security.ts';

/** The operations of the hosts domain. */
export const hostsOperations: readonly Operation[] = [
  hostKeyscan,
  hostProbe,
  hostPrepare,
  hostUpdate,
  healthCheckHost,
  healthCheckSecurity,
  healthRepairSecurity,
];
