import type { Handler } from '../runtime/define.ts';
import containerApply from './container.apply/handler.ts';
import containerDelete from './container.delete/handler.ts';
import containerHostSetup from './container.host.setup/handler.ts';
import containerLogs from './container.logs/handler.ts';
import containerRestart from './container.restart/handler.ts';
import containerStart from './container.start/handler.ts';
import containerStats from './container.stats/handler.ts';
import containerStop from './container.stop/handler.ts';
import healthCheckContainer from './health.check.container/handler.ts';
import healthRepairContainer from './health.repair.container/handler.ts';

/** The handlers of the containers domain, one per operation. */
export const containersHandlers: readonly Handler[] = [
  containerApply,
  containerDelete,
  containerHostSetup,
  containerLogs,
  containerRestart,
  containerStart,
  containerStats,
  containerStop,
  healthCheckContainer,
  healthRepairContainer,
];
