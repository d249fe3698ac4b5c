import type { Operation } from '../operation.ts';
import { healthCheckMailHost, healthRepairMailHost } from './health.ts';
import { mailApply } from './ops.ts';

/** The operations of the mail domain. */
export const mailOperations: readonly Operation[] = [mailApply, healthCheckMailHost, healthRepairMailHost];
