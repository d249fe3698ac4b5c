import { containerStart } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { power } from '../power.ts';

export default defineHandler({ op: containerStart, run: (payload, ctx) => power('start', payload, ctx) });
