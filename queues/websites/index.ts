import type { Operation } from '../operation.ts';
import { websiteApply, websiteDelete, websiteDeploy } from './ops.ts';
import { healthCheckWebsite, healthRepairWebsite } from './health.ts';

/** The operations of the websites domain. */
export const websitesOperations: readonly Operation[] = [
  websiteApply,
  websiteDelete,
  websiteDeploy,
  healthCheckWebsite,
  healthRepairWebsite,
];
