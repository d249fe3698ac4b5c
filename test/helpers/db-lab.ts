/**
 * Real PostgreSQL 15 and MariaDB 10.11 servers for tests: one lab host each (private state
 * directories, emptied as on a fresh machine, so database.server.setup creates the cluster and
 * data directory), a test CA whose certificates sit where `up certs create --service` installs
 * them, a stack with both hosts registered and a default server on each (pg1, my1), tenants
 * with tokens, and the real clients over TLS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installServiceCertificate } from '../../handlers/certificates/service.ts';
import { LocalExecutor } from '../../lib/exec/index.ts';
import { labHosts, registerLabHost, type Lab, type LabHost, type LabOptions } from './lab-hosts.ts';
import { onHost } from './podman-lab.ts';
import { startStack } from './stack.ts';
import { type Api, type Json, stackApi } from './stack-api.ts';
import { tenantsWithTokens } from './tenants.ts';

const run = promisify(execFile);

export const DB_ENGINES = ['postgresql', 'mariadb'] as const;
export type DbEngine = (typeof DB_ENGINES)[number];
export const SERVER_NAMES: Record<DbEngine, string> = { postgresql: 'pg1', mariadb: 'my1' };
export const DB_PRIVATE_DIRS = [
  '/etc/postgresql',
  '/var/lib/postgresql',
  '/run/postgresql',
  '/var/log/postgresql',
  '/etc/mysql',
  '/var/lib/mysql',
  '/run/mysqld',
  '/var/log/mysql',
];
const PORTS: Record<DbEngine, number> = { postgresql: 5432, mariadb: 3306 };

export interface Login {
  user: string;
  password: string;
}

export async function dbLab(options: LabOptions & { tenants: string[]; env?: Record<string, string> }) {
  const lab: Lab = await labHosts(2, { ...options, privateDirs: DB_PRIVATE_DIRS });
  const hosts: Record<DbEngine, LabHost> = { postgresql: lab.hosts[0], mariadb: lab.hosts[1] };
  const caDir = mkdtempSync(join(tmpdir(), `${options.prefix ?? 'up-db'}-ca-`));
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const tokens: Record<string, string> = {};
  const calls = stackApi(() => stack, tokens);

  /** A new certificate for the engine's host from the test CA, installed as `up certs create --service` does; its SHA-256 fingerprint. */
  async function installCertificate(engine: DbEngine): Promise<string> {
    const ssl = (...args: string[]) => run('openssl', args, { cwd: caDir });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const address = hosts[engine].address;
    await ssl('req', ...ec, '-keyout', `${engine}.key`, '-out', `${engine}.csr`, '-subj', `/CN=${address}`);
    await run(
      'sh',
      [
        '-c',
        `printf 'subjectAltName=IP:%s\\n' "$1" > "$2.ext" && openssl x509 -req -in "$2.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$2.pem" -days 2 -extfile "$2.ext" 2>/dev/null`,
        'sh',
        address,
        engine,
      ],
      { cwd: caDir },
    );
    const pem = { cert: readFileSync(join(caDir, `${engine}.pem`), 'utf8'), key: readFileSync(join(caDir, `${engine}.key`), 'utf8') };
    await installServiceCertificate(new LocalExecutor(), join(hosts[engine].dir, 'tls'), engine, pem);
    return (await ssl('x509', '-in', `${engine}.pem`, '-noout', '-fingerprint', '-sha256')).stdout.trim().split('=')[1];
  }

  /**
   * The SHA-256 fingerprint of the certificate the engine's server serves on its address (STARTTLS),
   * asked from its host (MariaDB greets only addresses some account names), or null.
   */
  async function servedFingerprint(engine: DbEngine): Promise<string | null> {
    const starttls = engine === 'postgresql' ? 'postgres' : 'mysql';
    const out = await onHost(
      hosts[engine],
      `timeout 10 openssl s_client -starttls ${starttls} -connect ${hosts[engine].address}:${PORTS[engine]} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2`,
    ).catch(() => '');
    return out.trim() || null;
  }

  /** The SHA-256 fingerprint of the engine's certificate as installed now. */
  async function installedFingerprint(engine: DbEngine): Promise<string> {
    const { stdout } = await run('openssl', ['x509', '-in', join(caDir, `${engine}.pem`), '-noout', '-fingerprint', '-sha256']);
    return stdout.trim().split('=')[1];
  }

  /** A real client over TLS, verifying the server's certificate; `tls: false` tries without. */
  async function client(engine: DbEngine, login: Login, database: string, sql: string, tls = true): Promise<{ ok: boolean; out: string }> {
    const address = hosts[engine].address;
    const ca = join(caDir, 'ca.pem');
    try {
      const { stdout } =
        engine === 'postgresql'
          ? await run(
              'psql',
              [
                '-X',
                '-q',
                '-A',
                '-t',
                '-v',
                'ON_ERROR_STOP=1',
                `host=${address} port=5432 dbname=${database} user=${login.user} connect_timeout=5 ${tls ? `sslmode=verify-full sslrootcert=${ca}` : 'sslmode=disable'}`,
                '-c',
                sql,
              ],
              { env: { ...process.env, PGPASSWORD: login.password } },
            )
          : await run('mariadb', [
              '--no-defaults',
              `--host=${address}`,
              '--port=3306',
              `--user=${login.user}`,
              `--password=${login.password}`,
              '--connect-timeout=5',
              ...(tls ? ['--ssl', `--ssl-ca=${ca}`, '--ssl-verify-server-cert'] : ['--skip-ssl']),
              '-N',
              '-B',
              '-e',
              sql,
              database,
            ]);
      return { ok: true, out: stdout.trim() };
    } catch (error) {
      return { ok: false, out: String((error as { stderr?: string }).stderr ?? error) };
    }
  }

  /** SQL as the server's administrator, over its local socket on its host (drift made by hand). */
  function onServer(engine: DbEngine, sql: string): Promise<string> {
    const admin =
      engine === 'postgresql'
        ? 'psql -X -q -A -t -v ON_ERROR_STOP=1 -h /var/run/postgresql -U up -d postgres'
        : 'mariadb --no-defaults -u root -N -B';
    return onHost(hosts[engine], admin, 60_000, sql);
  }

  try {
    for (const host of lab.hosts)
      await run('sh', [
        '-c',
        'for d in etc/postgresql var/lib/postgresql var/lib/mysql run/mysqld run/postgresql; do find "$1/private/$d" -mindepth 1 -delete; done',
        'sh',
        host.dir,
      ]);
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '2',
        '-subj',
        '/CN=up-db-test-ca',
      ],
      { cwd: caDir },
    );
    for (const engine of DB_ENGINES) await installCertificate(engine);
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    stack = await startStack({ env: options.env });
    const db = stack.database!.knex;
    for (const engine of DB_ENGINES)
      await registerLabHost(db, hosts[engine], [`db-${engine}`], { 'certs.deploy-dir': join(hosts[engine].dir, 'tls') });
    Object.assign(tokens, await tenantsWithTokens(db, options.tenants));
    await Promise.all(
      DB_ENGINES.map(async (engine) =>
        calls.succeeded(
          await calls.api('admin')('POST', '/v1/db-servers', {
            name: SERVER_NAMES[engine],
            host: hosts[engine].name,
            engine,
            address: hosts[engine].address,
            default: true,
          }),
        ),
      ),
    );
  } catch (error) {
    await stack?.shutdown();
    await lab.down();
    rmSync(caDir, { recursive: true, force: true });
    throw error;
  }
  const started = stack;

  return {
    ...calls,
    stack: started,
    tokens,
    db: started.database!.knex,
    hosts,
    caDir,
    installCertificate,
    servedFingerprint,
    installedFingerprint,
    client,
    onServer,
    async down(): Promise<void> {
      await started.shutdown();
      await lab.down();
      rmSync(caDir, { recursive: true, force: true });
    },
  };
}

export type DbLab = Awaited<ReturnType<typeof dbLab>>;

/**
 * The lab's calls for a test to name before its `before` has started the lab: each reaches
 * the lab only when called.
 */
export function dbLabCalls(labOf: () => DbLab) {
  return {
    api:
      (who: string): Api =>
      (method, path, body) =>
        labOf().api(who)(method, path, body),
    settled: (job: Json, who?: string): Promise<Json> => labOf().settled(job, who),
    succeeded: (response: { status: number; body: Json }, who?: string): Promise<Json> => labOf().succeeded(response, who),
  };
}
