import type { Handler } from '../runtime/define.ts';
import systemPing from './system.ping/handler.ts';

/** The handlers of the system domain, one per operation. */
export const systemHandlers: readonly Handler[] = [systemPing];
