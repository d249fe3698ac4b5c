import type { Operation } from '../operation.ts';
import { healthCheckApp, healthRepairApp } from './health.ts';
import { appBuild, appRetire, appRollout } from './ops.ts';

/** The operations of the apps domain. */
export const appsOperations: readonly Operation[] = [appBuild, appRollout, appRetire, healthCheckApp, healthRepairApp];
