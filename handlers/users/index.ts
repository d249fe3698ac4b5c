import type { Handler } from '../runtime/define.ts';
import tenantDeprovision from './tenant.deprovision/handler.ts';
import tenantProvision from './tenant.provision/handler.ts';

/** The handlers of the users domain, one per operation. */
export const usersHandlers: readonly Handler[] = [tenantDeprovision, tenantProvision];
