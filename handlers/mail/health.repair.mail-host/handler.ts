import { healthRepairMailHost } from '../../../queues/mail/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { applyMail } from '../mail.apply/handler.ts';

/** The repair is mail.apply itself: drifted files are rewritten and postmapped, stopped daemons started. */
export default defineHandler({ op: healthRepairMailHost, run: applyMail });
