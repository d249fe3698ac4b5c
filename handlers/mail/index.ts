import type { Handler } from '../runtime/define.ts';
import healthCheckMailHost from './health.check.mail-host/handler.ts';
import healthRepairMailHost from './health.repair.mail-host/handler.ts';
import mailApply from './mail.apply/handler.ts';

/** The handlers of the mail domain, one per operation. */
export const mailHandlers: readonly Handler[] = [mailApply, healthCheckMailHost, healthRepairMailHost];
