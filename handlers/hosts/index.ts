import type { Handler } from '../runtime/define.ts';
import hostKeyscan from './host.keyscan/handler.ts';
import hostPrepare from './host.prepare/handler.ts';
import hostProbe from './host.probe/handler.ts';
import hostUpdate from './host.update/handler.ts';
import healthCheckHost from './health.check.host/handler.ts';
import healthCheckSecurity from './health.check.security/handler.ts';
import healthRepairSecurity from './health.repair.security/handler.ts';

/** The handlers of the hosts domain, one per operation. */
export const hostsHandlers: readonly Handler[] = [
  hostKeyscan,
  hostPrepare,
  hostProbe,
  hostUpdate,
  healthCheckHost,
  healthCheckSecurity,
  healthRepairSecurity,
];
