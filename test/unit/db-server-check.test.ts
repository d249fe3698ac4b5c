/**
 * What health.check.db-server concludes from its probe's output: sessions against
 * max_connections, free disk against the data directory's size, the certificate served against
 * the installed one. The probe itself runs on real servers in databases-health.test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import check from '../../handlers/databases/health.check.db-server/handler.ts';
import type { Executor } from '../../lib/exec/index.ts';
import { DB_SERVER_LIMITS } from '../../queues/databases/health.ts';

const PAYLOAD = {
  resource: { type: 'db-server', key: 'pg1' },
  server: {
    name: 'pg1',
    engine: 'postgresql',
    host: { name: 'db1', address: '10.0.0.5', port: 22, user: 'root', hostKeySha256: 'x' },
    port: 5432,
    cluster: 'main',
  },
  listen: '10.0.0.5',
  tls: { cert: '/etc/up/tls/postgresql.pem', key: '/etc/up/tls/postgresql.key' },
  limits: DB_SERVER_LIMITS,
};

/** The check's result when the host's probe prints `stdout`. */
async function judge(stdout: string) {
  const exec = { host: 'db1', runScript: async () => ({ exitCode: 0, stdout, stderr: '', durationMs: 1 }) } as unknown as Executor;
  const ctx = { connect: () => exec, signal: new AbortController().signal };
  return (await check.run(PAYLOAD as never, ctx as never)) as {
    healthy: boolean;
    problems: { cause: string; message: string }[];
    measurements: Record<string, number>;
  };
}

const probeOutput = ({ connections = 12, max = 100, free = 50, size = 100, served = 'AA:BB', installed = 'AA:BB' } = {}) =>
  [
    'server up',
    `connections ${connections}`,
    `max ${max}`,
    'datadir /var/lib/postgresql/15/main',
    `disk ${free} ${size}`,
    `tls-server ${served} ${installed}`,
  ]
    .join('\n')
    .concat('\n');

test('a server within its bounds, serving the installed certificate, is healthy, its sessions and disk measured', async () => {
  const result = await judge(probeOutput());
  assert.deepEqual(result.problems, []);
  assert.equal(result.healthy, true);
  assert.deepEqual(result.measurements, { connections: 12, maxConnections: 100, diskFreeBytes: 50, diskBytes: 100 });
});

const BOUNDS = [
  {
    what: 'over 90% of max_connections is connections-high, naming the counts; 90% itself is not',
    edge: { connections: 90 },
    over: { connections: 91 },
    cause: 'connections-high',
    message: /postgresql server pg1 on db1 has 91 sessions of its 100 \(over 90%\)/,
  },
  {
    what: 'under 10% free in the data directory is disk-low, naming the bytes; 10% itself is not',
    edge: { free: 10 },
    over: { free: 9 },
    cause: 'disk-low',
    message: /has 9 bytes free of 100 \(under 10%\)/,
  },
];

for (const bound of BOUNDS)
  test(bound.what, async () => {
    assert.equal((await judge(probeOutput(bound.edge))).healthy, true);
    const result = await judge(probeOutput(bound.over));
    assert.deepEqual(
      result.problems.map((p) => p.cause),
      [bound.cause],
    );
    assert.match(result.problems[0].message, bound.message);
  });

test('a server that does not answer on its socket is down, and nothing is measured for it', async () => {
  const result = await judge('server down\ntls-server none AA:BB\n');
  assert.deepEqual(
    result.problems.map((p) => p.cause),
    ['server-down', 'tls-down'],
  );
  assert.deepEqual(result.measurements, {});
});

test('another certificate served than the installed one is a mismatch; none installed is missing', async () => {
  assert.deepEqual(
    (await judge(probeOutput({ served: 'CC:DD' }))).problems.map((p) => p.cause),
    ['certificate-mismatch'],
  );
  assert.deepEqual(
    (await judge(probeOutput({ installed: 'none' }))).problems.map((p) => p.cause),
    ['certificate-missing'],
  );
});

test('output the probe could not have printed (no numbers) measures nothing and raises nothing it cannot show', async () => {
  const result = await judge('server up\nconnections x\nmax y\ndisk - -\ntls-server AA:BB AA:BB\n');
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.measurements, {});
});
