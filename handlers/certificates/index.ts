import type { Handler } from '../runtime/define.ts';
import certIssue from './cert.issue/handler.ts';
import certRenew from './cert.renew/handler.ts';
import healthCheckCertificate from './health.check.certificate/handler.ts';

/** The handlers of the certificates domain, one per operation. */
export const certificatesHandlers: readonly Handler[] = [certIssue, certRenew, healthCheckCertificate];
