import type { Handler } from '../runtime/define.ts';
import appBuild from './app.build/handler.ts';
import appRetire from './app.retire/handler.ts';
import appRollout from './app.rollout/handler.ts';
import healthCheckApp from './health.check.app/handler.ts';
import healthRepairApp from './health.repair.app/handler.ts';

/** The handlers of the apps domain, one per operation. */
export const appsHandlers: readonly Handler[] = [appBuild, appRollout, appRetire, healthCheckApp, healthRepairApp];
