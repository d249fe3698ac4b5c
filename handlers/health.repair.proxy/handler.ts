import { healthRepairProxy } from '../../queues/ops/health-web.ts';
import { defineHandler } from '../define.ts';
import { applyProxy } from '../proxy.apply/handler.ts';

/** The repair is proxy.apply itself: it rewrites the base config if it drifted, and starts nginx if stopped. */
export default defineHandler({ op: healthRepairProxy, run: applyProxy });
