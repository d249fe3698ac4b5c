import type { Operation } from '../operation.ts';
import { systemPing } from './ops.ts';

/** The operations of the system domain. */
export const systemOperations: readonly Operation[] = [systemPing];
