/** `up databases`, `up database-users` and `up db-servers` (admin). */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { UsageError } from '../errors.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { describeJob, followJob, reportFanOut, type Job } from '../follow.ts';
import { elapsed, emit, machineReadable, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Json = Record<string, any>;

const ENGINES = ['postgresql', 'mariadb'];
const path = (base: string, name: string, argv: Json = {}) =>
  `${base}/${encodeURIComponent(name)}${argv.owner ? `?owner=${encodeURIComponent(argv.owner)}` : ''}`;
const ownerOption = (y: any) => y.option('owner', { type: 'string', describe: 'admins: whose, when several users have this name' });
const placeOptions = (y: any) =>
  waitOptions(y)
    .option('engine', { choices: ENGINES, describe: 'postgresql | mariadb (needed unless --server is given)' })
    .option('server', { type: 'string', describe: "the database server (default: the engine's default server)" });

/** A password from stdin (never argv, where shells and `ps` keep it); none: the gateway generates one. */
async function passwordFromStdin(argv: Json): Promise<string | undefined> {
  if (!argv.passwordStdin) return undefined;
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new CliError('--password-stdin: no password on stdin');
  return password;
}
const passwordOption = (y: any) =>
  y.option('password-stdin', {
    type: 'boolean',
    default: false,
    describe: 'read the password from stdin (default: a generated one, shown once)',
  });

// ---------------------------------------------------------------- databases

const describeDatabase = (d: Json) =>
  [
    `database  ${d.name} (${d.fullName} on ${d.server}, owner ${d.owner})`,
    `engine    ${d.engine}`,
    `connect   ${d.address}:${d.port} (TLS required)`,
    `size      ${d.sizeBytes ?? '-'}${d.sizeAt ? ` (${when(d.sizeAt)})` : ''}`,
    `error     ${d.error ?? '-'}`,
    '',
    table(
      d.users.map((u: Json) => ({ user: u.name, login: u.fullName, access: u.access })),
      ['user', 'login', 'access'],
    ),
  ].join('\n');

const reportDatabase = (client: UpClient, change: { database: Json; jobs: Job[] }, argv: Args) =>
  reportFanOut(client, change, argv, `${change.database.name}: ${change.database.fullName} on ${change.database.server}`);

/** `app` → rw, `app:ro` / `app:rw` → that access. */
function grantOf(spec: string): { user: string; access: 'rw' | 'ro' } {
  const [user, access = 'rw', ...rest] = spec.split(':');
  if (!user || rest.length || (access !== 'rw' && access !== 'ro'))
    throw new UsageError(`--user ${spec}: expected USER, USER:rw or USER:ro`, 'up databases create <name> --user USER[:ro]');
  return { user, access };
}

const dbCreate: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a database (<you>_<name> on the server)',
  builder: (y) =>
    placeOptions(y).option('user', {
      type: 'string',
      array: true,
      describe: 'USER[:ro] — grant one of your database users from the start (rw unless :ro); repeatable',
    }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const users = ((argv.user as string[] | undefined) ?? []).map(grantOf);
    const { body } = await client.request<{ database: Json; jobs: Job[] }>('POST', '/v1/databases', {
      body: {
        name: argv.name,
        ...(argv.engine ? { engine: argv.engine } : {}),
        ...(argv.server ? { server: argv.server } : {}),
        ...(users.length ? { users } : {}),
      },
    });
    await reportDatabase(client, body, argv);
  },
};

const dbList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your databases',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<Json>('/v1/databases');
    emit(body, () =>
      table(
        body.map((d) => ({
          name: d.name,
          server: d.server,
          engine: d.engine,
          users: d.users.map((u: Json) => `${u.name}:${u.access}`).join(' '),
          size: d.sizeBytes,
        })),
        ['name', 'server', 'engine', 'users', 'size'],
      ),
    );
  },
};

const dbShow: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one database: where to connect, its users and size',
  builder: ownerOption,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Json>('GET', path('/v1/databases', argv.name, argv));
    emit(body, () => describeDatabase(body));
  },
};

const dbDelete: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a database and its data',
  builder: (y: any) =>
    yesOption(
      ownerOption(waitOptions(y)).option('with-users', {
        type: 'boolean',
        default: false,
        describe: 'also delete its users that have no other database',
      }),
    ),
  handler: async (argv) => {
    await confirm(`delete database ${argv.name} and all its data?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const url = path('/v1/databases', argv.name, argv);
    const { body } = await client.request<{ database: Json; jobs: Job[] }>(
      'DELETE',
      argv.withUsers ? `${url}${url.includes('?') ? '&' : '?'}withUsers=true` : url,
    );
    await reportDatabase(client, body, argv);
  },
};

const dbGrant: CommandModule<Common, Args> = {
  command: 'grant <database> <user>',
  describe: 'let one of your database users use a database (rw or ro)',
  builder: (y) =>
    waitOptions(y).option('access', { choices: ['rw', 'ro'], demandOption: true, describe: 'rw: read and write; ro: read only' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ database: Json; jobs: Job[] }>(
      'PUT',
      `/v1/databases/${encodeURIComponent(argv.database)}/users`,
      {
        body: { user: argv.user, access: argv.access },
      },
    );
    await reportDatabase(client, body, argv);
  },
};

const dbRevoke: CommandModule<Common, Args> = {
  command: 'revoke <database> <user>',
  describe: "take a user's access to a database away",
  builder: waitOptions,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ database: Json; jobs: Job[] }>(
      'DELETE',
      `/v1/databases/${encodeURIComponent(argv.database)}/users/${encodeURIComponent(argv.user)}`,
    );
    await reportDatabase(client, body, argv);
  },
};

/** Follows a dump or import job, its changes of status on stderr; fails unless it succeeded. */
async function finish(client: UpClient, job: Job, argv: Args, what: string): Promise<Job> {
  const started = Date.now();
  const done = await followJob(client, job.id, {
    timeoutMs: argv.timeout * 1000,
    stepMs: 2_000,
    status: job.status,
    onChange: machineReadable() ? undefined : (j) => process.stderr.write(`${what}: ${j.status} ${elapsed(Date.now() - started)}\n`),
  });
  if (done.status !== 'succeeded') {
    process.exitCode = done.status === 'failed' || done.status === 'dead' ? 1 : 2;
    throw new CliError(describeJob(done), process.exitCode);
  }
  return done;
}

const transferOptions = (y: any, timeout: number) =>
  ownerOption(y).option('timeout', { type: 'number', default: timeout, describe: 'seconds to wait for the job' });

const dbDump: CommandModule<Common, Args> = {
  command: 'dump <name>',
  describe: 'dump a database (gzip-compressed SQL) to stdout, or to --out FILE',
  builder: (y: any) => transferOptions(y, 900).option('out', { type: 'string', describe: 'write the dump to this file' }),
  handler: async (argv) => {
    if (!argv.out && process.stdout.isTTY)
      throw new UsageError('refusing to write a gzip dump to a terminal: redirect stdout or give --out FILE', 'up databases dump <name>');
    const client = UpClient.fromEnvironment();
    const { body: job } = await client.request<Job>('POST', `${path('/v1/databases', argv.name, argv).replace(/(\?|$)/, '/dump$1')}`);
    const done = await finish(client, job, argv, `dump ${argv.name}`);
    const { sha256, bytes } = done.result as { sha256: string; bytes: number };
    const sink = argv.out ? createWriteStream(argv.out, { flags: 'w', mode: 0o600 }) : process.stdout;
    try {
      await client.request('GET', path(`/v1/databases/${encodeURIComponent(argv.name)}/dumps`, sha256, argv), {
        sink,
        timeoutMs: 300_000,
      });
    } catch (error) {
      if (argv.out) await rm(argv.out, { force: true });
      throw error;
    }
    if (!machineReadable()) process.stderr.write(`dump ${argv.name}: ${bytes} bytes, sha256 ${sha256}\n`);
  },
};

const dbImport: CommandModule<Common, Args> = {
  command: 'import <name> [file]',
  describe: 'run an SQL file (plain or gzip) in a database, from FILE or stdin',
  builder: (y: any) => transferOptions(y, 900).positional('file', { type: 'string', describe: 'the SQL file (default: stdin)' }),
  handler: async (argv) => {
    const fromStdin = !argv.file || argv.file === '-';
    if (fromStdin && process.stdin.isTTY)
      throw new UsageError('no SQL on stdin: redirect a file (`< dump.sql`) or name one', 'up databases import <name> [file]');
    const client = UpClient.fromEnvironment();
    const { body: job } = await client.request<Job>('POST', `${path('/v1/databases', argv.name, argv).replace(/(\?|$)/, '/import$1')}`, {
      stream: fromStdin ? process.stdin : createReadStream(argv.file),
      headers: { 'content-type': 'application/octet-stream' },
      timeoutMs: 300_000,
    });
    const done = await finish(client, job, argv, `import ${argv.name}`);
    emit(done, () => `import ${argv.name}: ${(done.result as { bytes: number }).bytes} bytes of SQL applied`);
  },
};

export const databases = group('up databases', [dbCreate, dbList, dbShow, dbDelete, dbGrant, dbRevoke, dbDump, dbImport]);

// ---------------------------------------------------------------- database users

/** The generated password goes to stdout alone (`-o json` keeps it in the document): shown once. */
async function reportUser(client: UpClient, change: { user: Json; password?: string; jobs: Job[] }, argv: Args): Promise<void> {
  await reportFanOut(client, change, argv, `${change.user.name}: log in as ${change.user.fullName} on ${change.user.server}`);
  if (change.password) process.stderr.write(`password (shown once): ${change.password}\n`);
}

const userCreate: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a database user (<you>_<name>); TLS is required to log in',
  builder: (y) => allowFromOption(passwordOption(placeOptions(y))),
  handler: async (argv) => {
    const password = await passwordFromStdin(argv);
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ user: Json; password?: string; jobs: Job[] }>('POST', '/v1/database-users', {
      body: {
        name: argv.name,
        ...(argv.engine ? { engine: argv.engine } : {}),
        ...(argv.server ? { server: argv.server } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(argv.allowFrom ? { allowFrom: networksOf(argv.allowFrom) } : {}),
      },
    });
    await reportUser(client, body, argv);
  },
};

const allowFromOption = (y: any) =>
  y.option('allow-from', {
    type: 'string',
    describe: 'client networks it may connect from, comma-separated CIDRs or addresses ("" or "any": anywhere)',
  });
const networksOf = (text: string): string[] =>
  text.trim() === 'any'
    ? []
    : text
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean);

const userEdit: CommandModule<Common, Args> = {
  command: 'edit <name>',
  describe: 'set the client networks a database user may connect from (--allow-from)',
  builder: (y) => allowFromOption(waitOptions(y)).demandOption('allow-from'),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ user: Json; jobs: Job[] }>('PATCH', `/v1/database-users/${encodeURIComponent(argv.name)}`, {
      body: { allowFrom: networksOf(argv.allowFrom) },
    });
    await reportUser(client, body, argv);
  },
};

const userPasswd: CommandModule<Common, Args> = {
  command: 'passwd <name>',
  describe: "set a database user's password (the old one stops working)",
  builder: (y) => passwordOption(waitOptions(y)),
  handler: async (argv) => {
    const password = await passwordFromStdin(argv);
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ user: Json; password?: string; jobs: Job[] }>(
      'POST',
      `/v1/database-users/${encodeURIComponent(argv.name)}/password`,
      { body: password !== undefined ? { password } : {} },
    );
    await reportUser(client, body, argv);
  },
};

const userList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your database users',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<Json>('/v1/database-users');
    emit(body, () =>
      table(
        body.map((u) => ({
          name: u.name,
          login: u.fullName,
          server: u.server,
          databases: u.databases.map((d: Json) => `${d.name}:${d.access}`).join(' '),
        })),
        ['name', 'login', 'server', 'databases'],
      ),
    );
  },
};

const userShow: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one database user and its databases',
  builder: ownerOption,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Json>('GET', path('/v1/database-users', argv.name, argv));
    emit(body, () =>
      [
        `user     ${body.name} (log in as ${body.fullName} on ${body.server}, owner ${body.owner})`,
        `from     ${body.allowFrom?.length ? body.allowFrom.join(' ') : 'anywhere'}`,
        `error    ${body.error ?? '-'}`,
        '',
        table(
          body.databases.map((d: Json) => ({ database: d.name, access: d.access })),
          ['database', 'access'],
        ),
      ].join('\n'),
    );
  },
};

const userDelete: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a database user (its sessions are closed)',
  builder: (y) => yesOption(ownerOption(waitOptions(y))),
  handler: async (argv) => {
    await confirm(`delete database user ${argv.name}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ user: Json; jobs: Job[] }>('DELETE', path('/v1/database-users', argv.name, argv));
    await reportUser(client, body, argv);
  },
};

export const databaseUsers = group('up database-users', [userCreate, userList, userShow, userEdit, userDelete, userPasswd]);

// ---------------------------------------------------------------- servers (admin)

const serverAdd: CommandModule<Common, Args> = {
  command: 'add <name>',
  describe: 'register a database server on a host (role db-postgresql or db-mariadb) and set it up',
  builder: (y) =>
    waitOptions(y)
      .option('host', { type: 'string', demandOption: true, describe: 'the host' })
      .option('engine', { choices: ENGINES, demandOption: true })
      .option('address', { type: 'string', demandOption: true, describe: "the host's address tenants connect to" })
      .option('port', { type: 'number', describe: 'default 5432 / 3306' })
      .option('cluster', { type: 'string', describe: 'PostgreSQL: the Debian cluster (default main)' })
      .option('default', { type: 'boolean', describe: "the engine's default server" }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ server: Json; jobs: Job[] }>('POST', '/v1/db-servers', {
      body: {
        name: argv.name,
        host: argv.host,
        engine: argv.engine,
        address: argv.address,
        ...(argv.port !== undefined ? { port: argv.port } : {}),
        ...(argv.cluster ? { cluster: argv.cluster } : {}),
        ...(argv.default !== undefined ? { default: argv.default } : {}),
      },
    });
    await reportFanOut(client, body, argv, `${body.server.name}: ${body.server.engine} on ${body.server.host}`);
  },
};

const serverList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'database servers',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<Json>('/v1/db-servers');
    emit(body, () =>
      table(
        body.map((s) => ({
          name: s.name,
          engine: s.engine,
          host: s.host,
          address: `${s.address}:${s.port}`,
          default: s.default,
          databases: s.databases,
        })),
        ['name', 'engine', 'host', 'address', 'default', 'databases'],
      ),
    );
  },
};

const serverShow: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one database server',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Json>('GET', path('/v1/db-servers', argv.name));
    emit(body, () =>
      Object.entries(body)
        .map(([k, v]) => `${k.padEnd(10)} ${v}`)
        .join('\n'),
    );
  },
};

const serverSetup: CommandModule<Common, Args> = {
  command: 'setup <name>',
  describe: 'set the server up on its host again',
  builder: waitOptions,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ server: Json; jobs: Job[] }>('POST', `${path('/v1/db-servers', argv.name)}/setup`);
    await reportFanOut(client, body, argv, `${body.server.name}: set up`);
  },
};

const serverRemove: CommandModule<Common, Args> = {
  command: 'remove <name>',
  describe: 'forget a database server without databases or users',
  builder: (y: any) => yesOption(y),
  handler: async (argv) => {
    await confirm(`forget database server ${argv.name}?`, { yes: argv.yes });
    const { body } = await UpClient.fromEnvironment().request<Json>('DELETE', path('/v1/db-servers', argv.name));
    emit(body, () => `${body.name}: removed`);
  },
};

export const dbServers = group('up db-servers', [serverAdd, serverList, serverShow, serverSetup, serverRemove]);
