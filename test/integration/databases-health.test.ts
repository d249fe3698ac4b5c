/**
 * Database servers' health on real PostgreSQL and MariaDB in lab hosts (test/helpers/db-lab.ts),
 * checks every second: each server answers on its socket and with TLS on its address, serving
 * the certificate up installed, with its sessions and free disk measured; a certificate renewed
 * on disk but not loaded, a stopped server, and privileges changed by hand on a MariaDB database
 * are found and repaired; a repair that cannot work raises one alarm. Servers are the admin's:
 * tenants do not see their health.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dbLab, type DbEngine, type DbLab, SERVER_NAMES } from '../helpers/db-lab.ts';
import { eventually } from '../helpers/eventually.ts';

type Json = Record<string, any>;
const TENANT = 'dsalice';
const WAIT = { timeoutMs: 90_000, intervalMs: 250 };

describe('database servers: checked, repaired, alarmed; MariaDB grants compared privilege by privilege', { timeout: 400_000 }, () => {
  let lab: DbLab;

  before(async () => {
    lab = await dbLab({
      prefix: 'up-dbs',
      subnet: '10.77.63',
      bridge: 'uplab63',
      tenants: [TENANT],
      env: { UP_HEALTH_INTERVAL_MS: '1000' },
    });
  });
  after(async () => {
    await lab?.down();
  });

  const healthOf = (type: string, key: string): Promise<Json | undefined> =>
    lab.db('health').where({ resource_type: type, resource_key: key }).first();
  const causesOf = (row: Json | undefined): string[] => (row?.problems ?? []).map((p: Json) => p.cause);
  const explain = (type: string, key: string) => async () => JSON.stringify(await healthOf(type, key));
  /** A repair job of the server succeeded, saying it did `change` (its row may be recorded a moment after the server is back). */
  const repairedBy = (server: string, change: string) =>
    eventually(
      `a repair of ${server} that says '${change}'`,
      async () => {
        const repairs = await lab.db('jobs').where({ op: 'health.repair.db-server', target: `db-server/${server}`, status: 'succeeded' });
        return repairs.some((j: Json) => j.result.changed.includes(change));
      },
      {
        ...WAIT,
        explain: async () =>
          JSON.stringify(await lab.db('jobs').where({ op: 'health.repair.db-server' }).select('status', 'result', 'error')),
      },
    );

  test('both servers are healthy: TLS with the installed certificate on their address, sessions and free disk measured; tenants do not see them', async () => {
    for (const engine of ['postgresql', 'mariadb'] as const) {
      const key = SERVER_NAMES[engine];
      const row = await eventually(
        `${key} healthy`,
        async () => {
          const found = await healthOf('db-server', key);
          return found?.state === 'healthy' && found;
        },
        { ...WAIT, explain: explain('db-server', key) },
      );
      const m = row.measurements;
      assert.ok(m.maxConnections >= 10 && m.connections >= 0 && m.connections < m.maxConnections, JSON.stringify(m));
      assert.ok(m.diskFreeBytes > 0 && m.diskBytes >= m.diskFreeBytes, JSON.stringify(m));
      assert.equal(row.owner_id, null, 'infrastructure: nobody owns it');
    }
    const admin = await lab.api('admin')('GET', '/v1/health?type=db-server');
    assert.deepEqual(admin.body.items.map((h: Json) => h.resource.key).sort(), ['my1', 'pg1']);
    const tenant = await lab.api(TENANT)('GET', '/v1/health?type=db-server');
    assert.equal(tenant.status, 200);
    assert.deepEqual(tenant.body.items, []);
  });

  test('postgresql: a certificate renewed on disk but not loaded is found, and the repair makes the server serve it', async () => {
    const before = await lab.servedFingerprint('postgresql');
    assert.ok(before);
    const renewed = await lab.installCertificate('postgresql');
    assert.notEqual(renewed, before);
    await eventually(
      'certificate-mismatch found',
      async () => causesOf(await healthOf('db-server', 'pg1')).includes('certificate-mismatch'),
      {
        ...WAIT,
        explain: explain('db-server', 'pg1'),
      },
    );
    await eventually('the renewed certificate served', async () => (await lab.servedFingerprint('postgresql')) === renewed, WAIT);
    await repairedBy('pg1', 'certificate reloaded');
    await eventually('pg1 healthy again', async () => (await healthOf('db-server', 'pg1'))?.state === 'healthy', WAIT);
  });

  test('mariadb: a stopped server is found down, and the repair starts it again', async () => {
    await lab.onServer('mariadb', 'SHUTDOWN;');
    assert.equal(await lab.servedFingerprint('mariadb'), null, 'really stopped');
    const down = await eventually(
      'server-down found',
      async () => {
        const row = await healthOf('db-server', 'my1');
        return causesOf(row).includes('server-down') && row;
      },
      { ...WAIT, explain: explain('db-server', 'my1') },
    );
    assert.ok(causesOf(down).includes('tls-down'), JSON.stringify(down.problems));
    await eventually('my1 answering with TLS again', async () => (await lab.servedFingerprint('mariadb')) !== null, WAIT);
    await repairedBy('my1', 'started');
    await eventually('my1 healthy again', async () => (await healthOf('db-server', 'my1'))?.state === 'healthy', WAIT);
  });

  test('mariadb: a privilege granted and one revoked by hand are drift; the repair re-applies the stored access', async () => {
    const rw = { user: `${TENANT}_grw`, password: `rw-${crypto.randomUUID().slice(0, 12)}` };
    const ro = { user: `${TENANT}_gro`, password: `ro-${crypto.randomUUID().slice(0, 12)}` };
    const tenant = lab.api(TENANT);
    const engine: DbEngine = 'mariadb';
    await lab.succeeded(await tenant('POST', '/v1/database-users', { name: 'grw', engine, password: rw.password }), TENANT);
    await lab.succeeded(await tenant('POST', '/v1/database-users', { name: 'gro', engine, password: ro.password }), TENANT);
    await lab.succeeded(await tenant('POST', '/v1/databases', { name: 'gdb', engine }), TENANT);
    await lab.succeeded(await tenant('PUT', '/v1/databases/gdb/users', { user: 'grw', access: 'rw' }), TENANT);
    await lab.succeeded(await tenant('PUT', '/v1/databases/gdb/users', { user: 'gro', access: 'ro' }), TENANT);
    const key = `${TENANT}_gdb@my1`;
    await eventually('the database healthy', async () => (await healthOf('database', key))?.state === 'healthy', {
      ...WAIT,
      explain: explain('database', key),
    });
    assert.ok((await lab.client(engine, rw, `${TENANT}_gdb`, 'CREATE TABLE t (n int); INSERT INTO t VALUES (1)')).ok);

    // By hand: ro may now insert, rw may no longer drop.
    await lab.onServer(
      engine,
      `GRANT INSERT ON \`${TENANT}\\_gdb\`.* TO '${ro.user}'@'%'; REVOKE DROP ON \`${TENANT}\\_gdb\`.* FROM '${rw.user}'@'%';`,
    );
    assert.ok((await lab.client(engine, ro, `${TENANT}_gdb`, 'INSERT INTO t VALUES (2)')).ok, 'the drift is real');
    const drift = await eventually(
      'grant drift found',
      async () => {
        const row = await healthOf('database', key);
        return (row?.problems ?? []).filter((p: Json) => p.cause === 'grant-drifted').length >= 2 && row;
      },
      { ...WAIT, explain: explain('database', key) },
    );
    const messages = drift.problems.map((p: Json) => p.message).join('\n');
    assert.match(messages, new RegExp(`${ro.user} has INSERT, SELECT, SHOW VIEW access`));
    assert.match(messages, new RegExp(`${rw.user} has .* access .*, not rw`));
    assert.doesNotMatch(messages, /\bDROP\b.*not rw/, 'the revoked privilege is the one missing');

    // Repaired: ro holds SELECT and SHOW VIEW again, and nothing else.
    await eventually(
      'the stored grants back',
      async () =>
        /GRANT SELECT, SHOW VIEW ON `dsalice\\+_gdb`\.\* TO/.test(await lab.onServer(engine, `SHOW GRANTS FOR '${ro.user}'@'%';`)),
      WAIT,
    );
    const refused = await lab.client(engine, ro, `${TENANT}_gdb`, 'INSERT INTO t VALUES (3)');
    assert.equal(refused.ok, false, 'ro cannot insert again');
    assert.match(refused.out, /command denied/i);
    assert.deepEqual(await lab.client(engine, ro, `${TENANT}_gdb`, 'SELECT COUNT(*) FROM t'), { ok: true, out: '2' });
    assert.ok((await lab.client(engine, rw, `${TENANT}_gdb`, 'DROP TABLE t')).ok, 'rw may drop again');
    await eventually('the database healthy again', async () => (await healthOf('database', key))?.state === 'healthy', WAIT);
    const repairs = await lab.db('jobs').where({ op: 'health.repair.database', target: `database/${key}` });
    assert.ok(repairs.length >= 1, 'a repair job did it');
  });

  test('a repair that cannot work (the certificate is gone) leaves one alarm naming the server; back once it is installed', async () => {
    const { rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    rmSync(join(lab.hosts.mariadb.dir, 'tls', 'mariadb'), { recursive: true, force: true });
    const alarm = await eventually(
      'an alarm for my1',
      async () => lab.db('alarms').where({ resource_type: 'db-server', resource_key: 'my1', status: 'open' }).first(),
      { ...WAIT, timeoutMs: 150_000, explain: explain('db-server', 'my1') },
    );
    assert.equal(alarm.cause, 'certificate-missing');
    const open = await lab.db('alarms').where({ resource_type: 'db-server', resource_key: 'my1', status: 'open' });
    assert.equal(open.length, 1, JSON.stringify(open.map((a: Json) => a.cause)));
    const failed = await lab
      .db('jobs')
      .where({ op: 'health.repair.db-server', target: 'db-server/my1' })
      .whereIn('status', ['failed', 'dead']);
    assert.ok(failed.length >= 1, 'the repair was tried and failed');
    assert.match(JSON.stringify(failed[0].error), /no TLS certificate/);
    // The cause gone, the admin retries the repair the alarm names (a repair is tried once per episode).
    await lab.installCertificate('mariadb');
    assert.match(alarm.message + (await lab.db('alarms').where({ id: alarm.id }).first()).message, /up jobs retry/);
    await lab.succeeded(await lab.api('admin')('POST', `/v1/jobs/${failed[0].id}/retry`));
    assert.equal(await lab.servedFingerprint('mariadb'), await lab.installedFingerprint('mariadb'), 'the new certificate is served');
    await eventually('my1 healthy with its new certificate', async () => (await healthOf('db-server', 'my1'))?.state === 'healthy', {
      ...WAIT,
      explain: explain('db-server', 'my1'),
    });
    await eventually(
      'the alarm cleared',
      async () => !(await lab.db('alarms').where({ resource_type: 'db-server', resource_key: 'my1', status: 'open' }).first()),
      WAIT,
    );
  });
});
