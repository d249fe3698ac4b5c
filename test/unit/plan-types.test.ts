/**
 * Job plans and observers are typed by their operation: a wrong payload field is a compile
 * error (`npm run typecheck` fails when a `@ts-expect-error` below stops being an error).
 * The test itself only proves that plan() leaves a plan as it is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plan } from '../../gateway/plan.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { websiteDelete } from '../../queues/websites/ops.ts';

const host = { name: 'h1', address: '10.0.0.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
const layout = { group: 'p1', baseDir: '/srv/up/nginx', nginxUser: 'www-data', httpPort: 80, httpsPort: 443, ipv6: false };

// Never called: the compiler checks these plans.
export function wrongPlans() {
  return [
    // The same plan, right: it compiles (so the errors below are the fields', nothing else's).
    plan({ op: websiteDelete, payload: { host, layout, site: { id: 'x', key: 'k', generation: 1 } } }),
    // @ts-expect-error a misspelled field (`keyz`) in a planned payload
    plan({ op: websiteDelete, payload: { host, layout, site: { id: 'x', keyz: 'k', generation: 1 } } }),
    // @ts-expect-error a generation that is not a number
    plan({ op: websiteDelete, payload: { host, layout, site: { id: 'x', key: 'k', generation: 'x' } } }),
    // @ts-expect-error a field the operation does not have
    plan({ op: systemPing, payload: { delayMs: 1, colour: 'red' } }),
  ];
}

test('plan() returns the plan it was given', () => {
  const job = { op: systemPing, payload: { delayMs: 5 }, target: 'ping' };
  assert.equal(plan(job), job);
});
