/**
 * Databases on a real PostgreSQL 15, on a lab host of its own:
 * - request → usable: `POST /v1/database-users`, then `POST /v1/databases` granting it (each
 *   until its job succeeded) until `psql` logs in over TLS, next to the raw `CREATE ROLE` + `CREATE DATABASE` +
 *   `REVOKE`/`GRANT` sent by hand over the same SSH path (the handler's connector, psql as up's
 *   control role on the socket), then the same `psql` login; p50/p99 of each and their ratio;
 * - N databases created in a row through the API (default 1,000): from the first request to
 *   the last job's success.
 * Run directly (as root): node --import tsx bench/databases.ts   (UP_BENCH_DB_RUNS=20,
 * UP_BENCH_DB_COUNT=1000)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { scramVerifier } from '../gateway/databases/passwords.ts';
import { createToken } from '../gateway/users/token-store.ts';
import { createUser } from '../gateway/users/store.ts';
import { installServiceCertificate } from '../handlers/certificates/service.ts';
import { HostConnector } from '../handlers/runtime/connector.ts';
import { PG_CONTROL_ROLE, PG_SOCKET_DIR } from '../handlers/databases/sql.ts';
import { LocalExecutor, sh } from '../lib/exec/index.ts';
import { labHosts } from '../test/helpers/lab-hosts.ts';
import { startStack } from '../test/helpers/stack.ts';
import { line, percentiles, round } from './stats.ts';

const run = promisify(execFile);
const TENANT = 'dbbench';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

export async function benchDatabases(options: { runs?: number; count?: number } = {}): Promise<Record<string, unknown>> {
  const runs = options.runs ?? Number(process.env.UP_BENCH_DB_RUNS ?? 20);
  const count = options.count ?? Number(process.env.UP_BENCH_DB_COUNT ?? 1_000);
  const lab = await labHosts(1, {
    prefix: 'up-dbb',
    subnet: '10.77.61',
    bridge: 'uplab61',
    privateDirs: ['/etc/postgresql', '/var/lib/postgresql', '/run/postgresql', '/var/log/postgresql'],
  });
  const [host] = lab.hosts;
  const caDir = mkdtempSync(join(tmpdir(), 'up-dbb-ca-'));
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const connector = new HostConnector(host.privateKeyFile);
  try {
    // A fresh machine: no copy of this machine's own cluster; db-server.setup creates one.
    await run('sh', [
      '-c',
      'for d in etc/postgresql var/lib/postgresql run/postgresql; do find "$1/private/$d" -mindepth 1 -delete; done',
      'sh',
      host.dir,
    ]);
    const ssl = (...args: string[]) => run('openssl', args, { cwd: caDir });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=up-dbb-ca');
    await ssl('req', ...ec, '-keyout', 'pg.key', '-out', 'pg.csr', '-subj', `/CN=${host.address}`);
    await run(
      'sh',
      [
        '-c',
        `printf 'subjectAltName=IP:%s\\n' "$1" > pg.ext && openssl x509 -req -in pg.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out pg.pem -days 2 -extfile pg.ext 2>/dev/null`,
        'sh',
        host.address,
      ],
      { cwd: caDir },
    );
    const pem = { cert: readFileSync(join(caDir, 'pg.pem'), 'utf8'), key: readFileSync(join(caDir, 'pg.key'), 'utf8') };
    await installServiceCertificate(new LocalExecutor(), join(host.dir, 'tls'), 'postgresql', pem);

    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack();
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['db-postgresql'],
      labels: JSON.stringify({ 'certs.deploy-dir': join(host.dir, 'tls') }),
    });
    const user = (await createUser(db, {
      name: TENANT,
      role: 'user',
      limits: { databases: count + runs + 10, databaseUsers: runs + 10 },
    }))!;
    const token = (
      await createToken(db, {
        userId: user.id,
        name: 'bench',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    const call = async (who: 'admin' | 'user', method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack!.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who === 'admin' ? stack!.adminToken : token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, any>;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    /** Until each job ended, as `up … --wait` follows one: long polls the recorder wakes. */
    const settle = async (jobs: { id: string }[], who: 'admin' | 'user') => {
      for (const job of jobs)
        for (;;) {
          const row = await call(who, 'GET', `/v1/jobs/${job.id}?waitMs=20000`);
          if (FINAL.has(row.status)) {
            if (row.status !== 'succeeded') throw new Error(`${row.op} ${row.status}: ${JSON.stringify(row.error)}`);
            break;
          }
        }
    };
    await settle(
      (
        await call('admin', 'POST', '/v1/db-servers', {
          name: 'pg1',
          host: host.name,
          engine: 'postgresql',
          address: host.address,
          default: true,
        })
      ).jobs,
      'admin',
    );

    const psqlLogin = async (login: string, password: string, database: string) => {
      for (let i = 0; ; i++) {
        try {
          await run(
            'psql',
            [
              '-X',
              '-q',
              '-A',
              '-t',
              `host=${host.address} dbname=${database} user=${login} sslmode=verify-full sslrootcert=${join(caDir, 'ca.pem')}`,
              '-c',
              'SELECT 1',
            ],
            { env: { ...process.env, PGPASSWORD: password } },
          );
          return;
        } catch (error) {
          if (i > 2000) throw error;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    };

    // Request → a database and a user usable by psql, through up.
    const viaUp: number[] = [];
    for (let i = 0; i < runs; i++) {
      const password = `bench-password-${i}-${crypto.randomUUID().slice(0, 8)}`;
      const t = performance.now();
      await settle((await call('user', 'POST', '/v1/database-users', { name: `u${i}`, engine: 'postgresql', password })).jobs, 'user');
      await settle(
        (await call('user', 'POST', '/v1/databases', { name: `d${i}`, engine: 'postgresql', users: [{ user: `u${i}`, access: 'rw' }] }))
          .jobs,
        'user',
      );
      await psqlLogin(`${TENANT}_u${i}`, password, `${TENANT}_d${i}`);
      viaUp.push(performance.now() - t);
    }

    // The same by hand over the same SSH path: CREATE ROLE, CREATE DATABASE, REVOKE, GRANT, then the login.
    const exec = connector.connect({
      name: host.name,
      address: host.address,
      port: host.port,
      user: host.user,
      hostKeySha256: host.hostKeySha256,
    });
    await exec.run(sh`true`);
    const raw: number[] = [];
    const psqlRaw = (database: string, sql: string) =>
      exec.run(sh`psql -X -q -v ON_ERROR_STOP=1 -h ${PG_SOCKET_DIR} -U ${PG_CONTROL_ROLE} -d ${database} -f -`, { stdin: sql });
    for (let i = 0; i < runs; i++) {
      const password = `raw-password-${i}-${crypto.randomUUID().slice(0, 8)}`;
      const t = performance.now();
      await psqlRaw(
        'postgres',
        `CREATE ROLE raw_u${i} LOGIN PASSWORD '${scramVerifier(password)}';
CREATE ROLE "raw_d${i}-owner" NOLOGIN;
CREATE DATABASE raw_d${i} OWNER "raw_d${i}-owner";
REVOKE ALL ON DATABASE raw_d${i} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE raw_d${i} TO raw_u${i};
GRANT "raw_d${i}-owner" TO raw_u${i};`,
      );
      await psqlRaw(`raw_d${i}`, 'REVOKE ALL ON SCHEMA public FROM PUBLIC;');
      await psqlLogin(`raw_u${i}`, password, `raw_d${i}`);
      raw.push(performance.now() - t);
    }
    const phases = await phasesOf(db, ['database.user.apply', 'database.apply']);
    const up = percentiles(viaUp);
    const byHand = percentiles(raw);
    console.log(line('request → database + user usable by psql (ms)', up));
    console.log(line('raw CREATE ROLE/DATABASE + GRANT, same SSH (ms)', byHand));
    console.log(line('ratio (target ≤ 1.5)', { p50: round(up.p50 / byHand.p50), p99: round(up.p99 / byHand.p99) }));
    for (const [op, phase] of Object.entries(phases)) console.log(line(`  ${op}: handler / queued → done (p50 ms)`, phase));

    // N databases in a row: every request first, then until the last job succeeded.
    const t = performance.now();
    const jobs: { id: string }[] = [];
    for (let i = 0; i < count; i++)
      jobs.push(...(await call('user', 'POST', '/v1/databases', { name: `many${i}`, engine: 'postgresql' })).jobs);
    const accepted = performance.now() - t;
    await settle(jobs, 'user');
    const total = performance.now() - t;
    const manyPhases = await phasesOf(db, ['database.apply'], `database/${TENANT}_many%`);
    console.log(line('  database.apply in the row: handler / queued → done (p50 ms)', manyPhases['database.apply']));
    console.log(
      line(`${count} databases in a row (target < 300 s for 1,000)`, { acceptedS: round(accepted / 1000), doneS: round(total / 1000) }),
    );
    return {
      runs,
      viaUp: up,
      raw: byHand,
      ratioP50: round(up.p50 / byHand.p50),
      ratioP99: round(up.p99 / byHand.p99),
      phases,
      count,
      acceptedSeconds: round(accepted / 1000),
      inARowSeconds: round(total / 1000),
      inARowPhases: manyPhases,
    };
  } finally {
    await connector.close();
    await stack?.shutdown();
    await lab.down();
    rmSync(caDir, { recursive: true, force: true });
  }
}

/** Where a job's time goes: the handler's run (the final outcome's duration) against request → recorded, p50 per operation. */
async function phasesOf(
  db: Knex,
  ops: string[],
  target = '%',
): Promise<Record<string, { handlerMs: number; totalMs: number; jobs: number }>> {
  const rows: { op: string; handler: number; total: number }[] = await db('jobs')
    .whereIn('op', ops)
    .where({ status: 'succeeded' })
    .where('target', 'like', target)
    .select('op', 'duration_ms as handler', db.raw('EXTRACT(EPOCH FROM (finished_at - created_at)) * 1000 AS total'));
  const phases: Record<string, { handlerMs: number; totalMs: number; jobs: number }> = {};
  for (const op of ops) {
    const mine = rows.filter((r) => r.op === op);
    phases[op] = {
      handlerMs: percentiles(mine.map((r) => Number(r.handler))).p50,
      totalMs: percentiles(mine.map((r) => Number(r.total))).p50,
      jobs: mine.length,
    };
  }
  return phases;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) console.log(JSON.stringify(await benchDatabases()));
