import type { Handler } from '../runtime/define.ts';
import healthCheckWebsite from './health.check.website/handler.ts';
import healthRepairWebsite from './health.repair.website/handler.ts';
import websiteApply from './website.apply/handler.ts';
import websiteDelete from './website.delete/handler.ts';
import websiteDeploy from './website.deploy/handler.ts';

/** The handlers of the websites domain, one per operation. */
export const websitesHandlers: readonly Handler[] = [healthCheckWebsite, healthRepairWebsite, websiteApply, websiteDelete, websiteDeploy];
