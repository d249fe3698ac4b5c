/** What every checked resource type's policy is built from. */
import type { CheckResult } from '../../queues/health/checks.ts';

/** Consecutive failing checks before a resource is `failed` and its alarms are raised. */
export const FAIL_AFTER = 3;
/** A repairable resource is repaired at its second failing check in a row (one may be a blip). */
export const REPAIR_AFTER = 2;

/** Whether the check found any of these causes. */
export const hasCause = (check: CheckResult, ...causes: string[]) => check.problems.some((p) => causes.includes(p.cause));

/** The host check alarms a host that does not answer; the proxy check, a stopped nginx. */
export const ON_HOST = ['unreachable'];
export const ON_PROXY = [...ON_HOST, 'proxy-down'];
