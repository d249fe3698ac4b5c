import { containerRestart } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { power } from '../power.ts';

export default defineHandler({ op: containerRestart, run: (payload, ctx) => power('restart', payload, ctx) });
