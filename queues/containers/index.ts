import type { Operation } from '../operation.ts';
import { healthCheckContainer, healthRepairContainer } from './health.ts';
import {
  containerApply,
  containerDelete,
  containerHostSetup,
  containerLogs,
  containerRestart,
  containerStart,
  containerStats,
  containerStop,
} from './ops.ts';

/** The operations of the containers domain. */
export const containersOperations: readonly Operation[] = [
  containerHostSetup,
  containerApply,
  containerStart,
  containerStop,
  containerRestart,
  containerDelete,
  containerLogs,
  containerStats,
  healthCheckContainer,
  healthRepairContainer,
];
