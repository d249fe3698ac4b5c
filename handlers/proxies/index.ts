import type { Handler } from '../runtime/define.ts';
import healthCheckProxy from './health.check.proxy/handler.ts';
import healthRepairProxy from './health.repair.proxy/handler.ts';
import proxyApply from './proxy.apply/handler.ts';

/** The handlers of the proxies domain, one per operation. */
export const proxiesHandlers: readonly Handler[] = [healthCheckProxy, healthRepairProxy, proxyApply];
