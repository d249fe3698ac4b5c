/** The host inventory's SQL on real PostgreSQL (the embedded suite runs it on PGlite). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { observers } from '../../gateway/observers.ts';
import { parseFacts } from '../../handlers/hosts/host.probe/facts.ts';
import type { JobRow } from '../../gateway/jobs-store.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { startStack } from '../helpers/stack.ts';
import { domains } from '../../gateway/domains.ts';

const KEY_A = `SHA256:${'A'.repeat(43)}`;
const KEY_B = `SHA256:${'B'.repeat(43)}`;

describe('hosts on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let stack: Awaited<ReturnType<typeof startStack>>;
  before(async () => {
    database = await freshDatabase();
    stack = await startStack({ databaseUrl: database.url, roles: ['gateway'] });
  });
  after(async () => {
    await stack?.shutdown();
    await database?.cleanup();
  });

  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => {
    const res = await stack.app!.inject({ method, url, payload: body as never, headers: stack.auth });
    return { status: res.statusCode, body: res.body ? res.json() : null };
  };

  it('adds, filters by role, merges labels, snapshots the jump host into jobs, and guards deletes', async () => {
    assert.equal(
      (await api('POST', '/v1/hosts', { name: 'gw', address: '192.0.2.1', hostKeySha256: KEY_A, roles: ['proxy'] })).status,
      201,
    );
    const inner = await api('POST', '/v1/hosts', {
      name: 'db1',
      address: 'db1.example.net',
      port: 2222,
      user: 'deploy',
      hostKeySha256: KEY_B,
      roles: ['db', 'backup'],
      labels: { zone: 'a' },
      capacity: { cpu: 8, memoryMb: 32768, diskGb: 500 },
      jumpHost: 'gw',
    });
    assert.equal(inner.status, 201, JSON.stringify(inner.body));
    assert.deepEqual(inner.body.capacity, { cpu: 8, memoryMb: 32768, diskGb: 500 });
    assert.equal((await api('POST', '/v1/hosts', { name: 'db1', address: '192.0.2.9', hostKeySha256: KEY_B })).status, 409);

    const dbHosts = (await api('GET', '/v1/hosts?role=db')).body.items.map((h: { name: string }) => h.name);
    assert.deepEqual(dbHosts, ['db1']);
    assert.equal((await api('GET', '/v1/hosts?role=toaster')).status, 400);

    const patched = await api('PATCH', '/v1/hosts/db1', { labels: { tier: 'gold' }, removeLabels: ['zone'], roles: ['db'] });
    assert.deepEqual(patched.body.labels, { tier: 'gold' });
    assert.deepEqual(patched.body.roles, ['db']);

    const job = await api('POST', '/v1/hosts/db1/probe');
    assert.equal(job.status, 202);
    assert.deepEqual(job.body.payload.host, {
      name: 'db1',
      address: 'db1.example.net',
      port: 2222,
      user: 'deploy',
      hostKeySha256: KEY_B,
      jump: { name: 'gw', address: '192.0.2.1', port: 22, user: 'root', hostKeySha256: KEY_A },
    });
    assert.equal((await api('DELETE', '/v1/hosts/gw')).status, 409);
    assert.equal((await api('DELETE', '/v1/hosts/db1')).status, 204);
    assert.equal((await api('DELETE', '/v1/hosts/gw')).status, 204);
  });

  it('a succeeded probe stores facts; an older one finishing later does not overwrite them', async () => {
    await api('POST', '/v1/hosts', { name: 'web1', address: '192.0.2.5', hostKeySha256: KEY_A });
    const knex = stack.database!.knex;
    const job = { payload: { host: { name: 'web1' } } } as unknown as JobRow;
    const event = (at: string, kernel: string) =>
      ({ status: 'succeeded', at, result: parseFacts(`kernel\t${kernel}`) }) as unknown as ResultEvent;
    await observers['host.probe'](knex, job, event('2030-01-01T00:00:02.000Z', 'new'), { domains, publish: () => undefined });
    await observers['host.probe'](knex, job, event('2030-01-01T00:00:01.000Z', 'old'), { domains, publish: () => undefined });
    const { body } = await api('GET', '/v1/hosts/web1');
    assert.equal(body.facts.os.kernel, 'new');
    assert.equal(body.factsAt, '2030-01-01T00:00:02.000Z');
  });
});
