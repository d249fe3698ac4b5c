import type { Operation } from '../operation.ts';
import { tenantProvision, tenantDeprovision } from './ops.ts';

/** The operations of the users domain. */
export const usersOperations: readonly Operation[] = [tenantProvision, tenantDeprovision];
