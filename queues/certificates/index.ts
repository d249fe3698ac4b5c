import type { Operation } from '../operation.ts';
import { certIssue, certRenew } from './ops.ts';
import { healthCheckCertificate } from './health.ts';

/** The operations of the certificates domain. */
export const certificatesOperations: readonly Operation[] = [certIssue, certRenew, healthCheckCertificate];
