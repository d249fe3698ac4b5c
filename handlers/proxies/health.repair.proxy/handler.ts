import { healthRepairProxy } from '../../../queues/proxies/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { applyProxy } from '../proxy.apply/handler.ts';

/** The repair is proxy.apply itself: it rewrites the base config if it drifted, and starts nginx if stopped. */
export default defineHandler({ op: healthRepairProxy, run: applyProxy });
