import { containerStop } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { power } from '../power.ts';

export default defineHandler({ op: containerStop, run: (payload, ctx) => power('stop', payload, ctx) });
