import type { Handler } from './define.ts';
import systemPing from './system.ping/handler.ts';

/** One handler per operation; `up handler <ops...>` picks from here. */
export const handlers: readonly Handler[] = [systemPing as Handler];

export const handlerFor = (op: string): Handler | undefined => handlers.find((h) => h.op.name === op);
