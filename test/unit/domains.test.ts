/**
 * The domains fit together: what one declares, another process finds. A new vertical that
 * forgets a handler, an observer, a check policy or a handler pool fails here, not in production.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { domains } from '../../gateway/domains.ts';
import { handlers } from '../../handlers/registry.ts';
import { operations, selectOperations } from '../../queues/catalogue.ts';
import { CheckResult } from '../../queues/health/checks.ts';

const root = new URL('../../', import.meta.url);
const names = (list: readonly { name: string }[]) => list.map((x) => x.name);
/** Spine operations no domain owns, and why nothing is stored from them. */
const SPINE_UNOBSERVED: Record<string, string> = { 'system.ping': 'the canary: the scheduler reads its job row itself' };

test('every operation of the catalogue has exactly one handler, and every handler handles one of the catalogue', () => {
  for (const op of operations) assert.equal(handlers.filter((h) => h.op.name === op.name).length, 1, `handlers of ${op.name}`);
  for (const handler of handlers) assert.ok(operations.includes(handler.op), `${handler.op.name} is in the catalogue`);
});

test('every operation that writes a job row is observed, or declared unobserved with a reason; never both', () => {
  const observed = new Set(domains.flatMap((d) => d.observers ?? []).map((entry) => entry.op.name));
  const unobserved = { ...SPINE_UNOBSERVED, ...Object.assign({}, ...domains.map((d) => d.unobserved ?? {})) };
  for (const op of operations.filter((o) => o.result !== CheckResult)) {
    assert.ok(observed.has(op.name) !== op.name in unobserved, `${op.name}: observed (${observed.has(op.name)}) or declared unobserved`);
    if (op.name in unobserved) assert.ok(unobserved[op.name].length > 10, `${op.name} says why it is not observed`);
  }
  for (const name of Object.keys(unobserved))
    assert.ok(
      operations.some((o) => o.name === name),
      `${name} is an operation`,
    );
  const entries = domains.flatMap((d) => d.observers ?? []).map((entry) => entry.op.name);
  assert.deepEqual(entries, [...new Set(entries)], 'one observer per operation');
});

test('every check operation belongs to one check kind with a policy, and kinds do not share a resource type', () => {
  const kinds = domains.flatMap((d) => d.checks ?? []);
  for (const op of operations.filter((o) => o.result === CheckResult)) {
    const owners = kinds.filter((kind) => kind.op === op);
    assert.equal(owners.length, 1, `${op.name} has one check kind`);
    assert.ok(owners[0].policy.failAfter >= 1, `${op.name}: a policy says when it fails`);
  }
  assert.deepEqual(names(kinds.map((k) => ({ name: k.type }))), [...new Set(kinds.map((k) => k.type))]);
});

test('one name per domain: its folders, its OpenAPI tag and its owned kinds are declared once', () => {
  assert.deepEqual(names(domains), [...new Set(names(domains))], 'domain names are unique');
  for (const domain of domains) {
    assert.ok(existsSync(new URL(`gateway/${domain.name}/index.ts`, root)), `gateway/${domain.name}/index.ts`);
    if (existsSync(new URL(`queues/${domain.name}`, root)))
      assert.ok(existsSync(new URL(`handlers/${domain.name}/index.ts`, root)), `handlers/${domain.name}/ handles queues/${domain.name}/`);
  }
  const owned = domains.flatMap((d) => d.owned ?? []).map((kind) => kind.kind);
  assert.deepEqual(owned, [...new Set(owned)], 'an owned kind belongs to one domain');
  const roles = domains.flatMap((d) => d.roles ?? []).map((r) => r.role);
  assert.deepEqual(roles, [...new Set(roles)], 'a host role belongs to one domain');
  const managers = domains.flatMap((d) => d.recordManagers ?? []).map((m) => m.kind);
  assert.deepEqual(managers, [...new Set(managers)], 'a DNS record manager kind belongs to one domain');
});

test('every operation folder of queues/ and handlers/ is a domain (or the spine: system)', () => {
  const folders = (dir: string) =>
    readdirSync(new URL(dir, root), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'runtime')
      .map((e) => e.name)
      .sort();
  const known = [...names(domains), 'system', 'health'].sort();
  for (const folder of folders('queues/')) assert.ok(known.includes(folder), `queues/${folder} is a domain`);
  for (const folder of folders('handlers/')) assert.ok(known.includes(folder), `handlers/${folder} is a domain`);
});

test('every operation is consumed by a handler pool in deploy/: Kubernetes and systemd', () => {
  const k8s = readFileSync(new URL('deploy/kubernetes/handlers.yaml', root), 'utf8');
  const k8sPatterns = [...k8s.matchAll(/- handler\n((?:\s+- \S+\n)+)/g)].flatMap((m) =>
    m[1].split('\n').map((l) => l.trim().replace(/^- /, '')),
  );
  const systemdDir = new URL('deploy/systemd/handlers/', root);
  const systemdPatterns = readdirSync(systemdDir).flatMap((file) =>
    (readFileSync(new URL(file, systemdDir), 'utf8').match(/^UP_HANDLER_OPS=(.*)$/m)?.[1] ?? '').split(/[ ,]+/).filter(Boolean),
  );
  for (const [where, patterns] of [
    ['Kubernetes', k8sPatterns],
    ['systemd', systemdPatterns],
  ] as const) {
    assert.ok(patterns.length > 0, `${where} pools found`);
    const consumed = new Set(names(selectOperations(patterns.filter(Boolean))));
    for (const op of operations) assert.ok(consumed.has(op.name), `a ${where} handler pool consumes ${op.name}`);
  }
});
