import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { group, subgroup } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { exitCodeOf, followJob, reportFanOut, type Job } from '../follow.ts';
import { elapsed, emit, machineReadable, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';
import { describeUses, SECRET_OPTION, secretUsesOf, type SecretUse } from './secrets.ts';

const run = promisify(execFile);

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Deploy = {
  state: string;
  release: number | null;
  image: string | null;
  cause: string;
  at: string;
  log: string | null;
  error: string | null;
};
type App = Record<string, any> & {
  name: string;
  urls: string[];
  deploy: Deploy | null;
  serving: { name: string; status: string | null }[];
};
type Change = { app: App; jobs: Job[] };

const FINAL = new Set(['succeeded', 'failed']);

const url = (argv: Record<string, any>, tail = '') =>
  `/v1/apps/${encodeURIComponent(argv.name)}${tail}${argv.owner ? `?owner=${encodeURIComponent(argv.owner)}` : ''}`;
const ownerOption = (y: any) =>
  y.option('owner', { type: 'string', describe: "admins: the app's owner, when several users have one of this name" });
/** Deploys and releases wait by default: they are read as done when the new version serves (--no-wait: not). */
const deployWait = (y: any) =>
  waitOptions(y, 600).option('wait', {
    type: 'boolean',
    default: true,
    describe: 'follow the deploy until it serves or fails (--no-wait: do not)',
  });

/** `KEY=VALUE` words. */
function envOf(specs: string[]): Record<string, string> {
  return Object.fromEntries(
    specs.map((spec) => {
      const cut = spec.indexOf('=');
      if (cut < 1) throw new CliError(`wanted KEY=VALUE, got ${spec}`);
      return [spec.slice(0, cut), spec.slice(cut + 1)];
    }),
  );
}

/**
 * Follows the app's deploy to its end, a line on stderr per step (building, starting,
 * switching), and exits 1 when it failed, with the error and the log that explains it.
 */
async function followDeploy(client: UpClient, argv: Args, change: Change): Promise<void> {
  if (!argv.wait || !change.app.deploy) {
    emit(change, () => describeApp(change.app));
    return;
  }
  const started = Date.now();
  const deadline = started + argv.timeout * 1000;
  let app = change.app;
  let shown = '';
  for (;;) {
    const state = app.deploy?.state ?? 'pending';
    if (state !== shown && !machineReadable())
      process.stderr.write(`${elapsed(Date.now() - started).padStart(6)}  ${app.name}: ${state}\n`);
    shown = state;
    if (FINAL.has(state)) break;
    if (Date.now() > deadline) {
      process.exitCode = 2;
      throw new CliError(`the deploy is still ${state} after ${argv.timeout} s: see up apps show ${app.name}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    app = (await client.request<App>('GET', url(argv))).body;
  }
  emit({ ...change, app }, () => describeApp(app));
  if (app.deploy?.state === 'failed') {
    process.exitCode = 1;
    // The whole error (a failed build's or release's log tail is in it), then the build's log when it got that far.
    if (!machineReadable()) process.stderr.write(`${app.deploy.error ?? ''}\n${app.deploy.log ? `${app.deploy.log}\n` : ''}`);
  }
}

export function describeApp(a: App): string {
  const d = a.deploy;
  return [
    `app         ${a.name} (owner ${a.owner}, template ${a.template})`,
    `urls        ${a.urls.join(' ')}`,
    `host        ${a.host ?? '-'}`,
    `image       ${a.image ?? '(not deployed yet)'}${a.previousImage ? ` (before: ${a.previousImage})` : ''}`,
    `replicas    ${a.replicas}: ${a.serving.map((r) => `${r.name} ${r.status ?? 'pending'}`).join(', ') || '-'}`,
    `env         ${Object.keys(a.env).join(' ') || '-'}`,
    `secrets     ${describeUses(a.secrets ?? [])}`,
    `database    ${a.database ? `${a.database.database} as ${a.database.user} (DATABASE_URL)` : '-'}`,
    `deploy      ${d ? `${d.state} (release ${d.release ?? '-'}, ${d.cause}, ${when(d.at)})${d.error ? ` — ${d.error.split('\n')[0]}` : ''}` : '-'}`,
  ].join('\n');
}

const create: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'make an app from a template: its website (at once at its temporary subdomain) and, for an image, its first release',
  builder: (y) =>
    deployWait(y)
      .option('template', { type: 'string', demandOption: true, describe: 'django, node, container, static (up apps templates)' })
      .option('proxy', { type: 'string', demandOption: true, describe: 'the proxy group that serves it' })
      .option('domain', { type: 'string', array: true, describe: 'a domain (repeatable); none: the temporary subdomain only' })
      .option('replicas', { type: 'number', describe: 'containers serving it (default 1)' })
      .option('env', { type: 'string', array: true, describe: 'KEY=VALUE (repeatable)' })
      .option('secret', SECRET_OPTION)
      .option('database', { type: 'string', describe: 'one of your databases, given to the replicas as DATABASE_URL' })
      .option('database-user', { type: 'string', describe: 'with --database: the database user the app connects as' })
      .option('password-secret', { type: 'string', describe: "with --database: the secret holding that user's password" })
      .option('image', { type: 'string', describe: 'the image to run (templates that build none)' })
      .option('base-image', { type: 'string', describe: "templates that build: the Containerfile's base image" }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = {
      name: argv.name,
      template: argv.template,
      proxy: argv.proxy,
      ...(argv.domain ? { domains: argv.domain } : {}),
      ...(argv.replicas !== undefined ? { replicas: argv.replicas } : {}),
      ...(argv.env ? { env: envOf(argv.env) } : {}),
      ...(argv.secret ? { secrets: secretUsesOf(argv.secret) } : {}),
      ...(argv.database ? { database: attachmentOf(argv, argv.database) } : {}),
      ...(argv.image ? { image: argv.image } : {}),
      ...(argv.baseImage ? { baseImage: argv.baseImage } : {}),
    };
    const { body: change } = await client.request<Change>('POST', '/v1/apps', { body });
    await followDeploy(client, argv, change);
  },
};

const deploy: CommandModule<Common, Args> = {
  command: 'deploy <name> <dir>',
  describe: 'upload a directory: built into an image on the app’s host and rolled out with no downtime (static: the site’s files)',
  builder: (y) => ownerOption(deployWait(y)),
  handler: async (argv) => {
    let directory = false;
    try {
      directory = statSync(argv.dir).isDirectory();
    } catch {}
    if (!directory) throw new CliError(`${JSON.stringify(argv.dir)} is not a directory`);
    // ustar: plain headers the gateway checks entry by entry (files and directories only).
    const { stdout } = await run('tar', ['--format=ustar', '-czf', '-', '-C', argv.dir, '.'], {
      encoding: 'buffer',
      maxBuffer: 80 * 1024 * 1024,
    });
    const client = UpClient.fromEnvironment();
    if (!machineReadable()) process.stderr.write(`uploading ${stdout.length} bytes\n`);
    const { body } = await client.request<Change>('POST', url(argv, '/deploy'), {
      body: { archive: stdout.toString('base64') },
      timeoutMs: 300_000,
    });
    await followDeploy(client, argv, body);
  },
};

const edit = (
  command: string,
  describe: string,
  bodyOf: (argv: Args) => Record<string, unknown> | Promise<Record<string, unknown>>,
): CommandModule<Common, Args> => ({
  command,
  describe,
  builder: (y) => ownerOption(deployWait(y)),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('PATCH', url(argv), { body: await bodyOf(argv) });
    await followDeploy(client, argv, body);
  },
});

const env = subgroup('env', "the app's environment variables", 'up apps env', [
  edit('set <name> <pairs..>', 'set environment variables (KEY=VALUE …): a new release', (argv) => ({
    env: envOf(argv.pairs.map(String)),
  })),
  edit('unset <name> <keys..>', 'remove environment variables: a new release', (argv) => ({ unsetEnv: argv.keys.map(String) })),
  {
    command: 'list <name>',
    describe: "the app's environment variables",
    builder: ownerOption,
    handler: async (argv: Args) => {
      const { body } = await UpClient.fromEnvironment().request<App>('GET', url(argv));
      emit(body.env, () =>
        Object.entries(body.env as Record<string, string>)
          .map(([k, v]) => `${k}=${v}`)
          .join('\n'),
      );
    },
  } as CommandModule<Common, Args>,
]);

/** `--database` with the user and the secret that complete it. */
function attachmentOf(argv: Args, database: string) {
  if (!argv.databaseUser || !argv.passwordSecret)
    throw new CliError('--database needs --database-user and --password-secret (the secret that holds its password)');
  return { database, user: argv.databaseUser, passwordSecret: argv.passwordSecret };
}

const attach = edit('attach <name> <database>', 'give the replicas DATABASE_URL for one of your databases: a new release', (argv) => ({
  database: attachmentOf(argv, argv.database),
}));
attach.builder = (y: any) =>
  ownerOption(deployWait(y))
    .option('database-user', { type: 'string', demandOption: true, describe: 'the database user the app connects as' })
    .option('password-secret', { type: 'string', demandOption: true, describe: "the secret holding that user's password" });

const database = subgroup('database', "the app's database (DATABASE_URL)", 'up apps database', [
  attach,
  edit('detach <name>', 'no DATABASE_URL any more: a new release', () => ({ database: null })),
]);

/** The app's secret uses with `uses` put in (a name already there takes its new variable) or `names` taken out. */
async function changedUses(argv: Args, change: { put?: SecretUse[]; drop?: string[] }): Promise<SecretUse[]> {
  const { body } = await UpClient.fromEnvironment().request<App>('GET', url(argv));
  const uses = (body.secrets as SecretUse[]).filter((u) => !change.drop?.includes(u.name));
  for (const use of change.put ?? []) {
    const at = uses.findIndex((u) => u.name === use.name);
    if (at >= 0) uses[at] = use;
    else uses.push(use);
  }
  return uses;
}

const secrets = subgroup('secrets', 'the secrets the app reads', 'up apps secrets', [
  edit('add <name> <uses..>', 'let the replicas read secrets (NAME or NAME:ENV …): a new release', async (argv) => ({
    secrets: await changedUses(argv, { put: secretUsesOf(argv.uses.map(String)) }),
  })),
  edit('remove <name> <secrets..>', 'stop the replicas reading secrets (by name): a new release', async (argv) => ({
    secrets: await changedUses(argv, { drop: argv.secrets.map(String) }),
  })),
  {
    command: 'list <name>',
    describe: 'the secrets the app reads (never their values)',
    builder: ownerOption,
    handler: async (argv: Args) => {
      const { body } = await UpClient.fromEnvironment().request<App>('GET', url(argv));
      emit(body.secrets, () => describeUses(body.secrets).split(' ').join('\n'));
    },
  } as CommandModule<Common, Args>,
]);

const scale = edit('scale <name>', 'change how many replicas serve the app: a new release', (argv) => ({ replicas: argv.replicas }));
scale.builder = (y: any) =>
  ownerOption(deployWait(y)).option('replicas', { type: 'number', demandOption: true, describe: 'how many (1–8)' });

const rollback: CommandModule<Common, Args> = {
  command: 'rollback <name>',
  describe: 'run the image before the current one again',
  builder: (y) => ownerOption(deployWait(y)),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', url(argv, '/rollback'));
    await followDeploy(client, argv, body);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your apps, with their URL, image and last deploy',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<App>('/v1/apps');
    emit(body, () =>
      table(
        body.map((a) => ({
          name: a.name,
          template: a.template,
          url: a.urls[0],
          replicas: `${a.serving.length}/${a.replicas}`,
          deploy: a.deploy?.state ?? '-',
          image: a.image ?? '-',
        })),
        ['name', 'template', 'url', 'replicas', 'deploy', 'image'],
      ),
    );
  },
};

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one app: URLs, image, replicas, last deploy (--log: its log)',
  builder: (y) => ownerOption(y).option('log', { type: 'boolean', describe: "print the last deploy's log" }),
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<App>('GET', url(argv));
    emit(body, () => describeApp(body) + (argv.log && body.deploy?.log ? `\n\n${body.deploy.log}` : ''));
  },
};

const templates: CommandModule<Common, Common> = {
  command: 'templates',
  describe: 'the templates an app is made from',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<{ name: string; description: string; builds: boolean }>('/v1/apps/templates');
    emit(body, () => table(body, ['name', 'builds', 'description']));
  },
};

type LogResult = { lines: { at: string; text: string }[]; until: string };

const logs: CommandModule<Common, Args> = {
  command: 'logs <name>',
  describe: "the serving replicas' last log lines; -f keeps reading new ones",
  builder: (y) =>
    ownerOption(y)
      .option('tail', { type: 'number', default: 100, describe: 'how many of the last lines per replica' })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep reading new lines (Ctrl-C stops)' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let since: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const { body: jobs } = await client.request<Job[]>('POST', url(argv, '/logs'), {
        body: { tail: argv.tail, ...(since ? { since } : {}) },
      });
      let until = since;
      for (const job of jobs) {
        const done = await followJob(client, job.id, { timeoutMs: 60_000 });
        if (done.status !== 'succeeded') {
          process.exitCode = exitCodeOf(done);
          throw new CliError(`reading the logs of ${done.target} failed: ${done.error?.message ?? done.status}`);
        }
        const result = done.result as LogResult;
        const replica = String(done.target)
          .replace(/^container\//, '')
          .replace(/@.*$/, '');
        for (const line of result.lines) {
          const id = `${replica} ${line.at} ${line.text}`;
          if (seen.has(id)) continue;
          seen.add(id);
          if (machineReadable()) process.stdout.write(`${JSON.stringify({ replica, ...line })}\n`);
          else process.stdout.write(`${replica}  ${line.text}\n`);
        }
        if (!until || result.until > until) until = result.until;
      }
      if (!argv.follow) return;
      since = until;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  },
};

const remove: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete an app: its replicas and its website',
  builder: (y) => yesOption(ownerOption(waitOptions(y))),
  handler: async (argv) => {
    await confirm(`delete app ${argv.name}, its replicas and its website?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', url(argv));
    await reportFanOut(client, body, argv, `${argv.name}: deleting`);
  },
};

export const apps = group('up apps', [create, deploy, env, secrets, database, scale, rollback, list, show, logs, templates, remove]);
