import type { Operation } from '../operation.ts';
import { proxyApply } from './ops.ts';
import { healthCheckProxy, healthRepairProxy } from './health.ts';

/** The operations of the proxies domain. */
export const proxiesOperations: readonly Operation[] = [proxyApply, healthCheckProxy, healthRepairProxy];
