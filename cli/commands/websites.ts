import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Website = Record<string, any> & { name: string; tempDomain: string; url: string; generation: number; jobs?: Job[] };
type Change = { website: Website; jobs: Job[] };

const run = promisify(execFile);

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // missing, unreadable, or a name too long to be a file
  }
}

/** `--route /api=10.0.0.5:3000`, or `--route /=container:web:8080` for one of your containers (append `,ws` for websockets). */
function routesOf(specs: string[] | undefined) {
  return specs?.map((spec) => {
    const match = /^([^=]+)=([^,]+)(,ws)?$/.exec(spec);
    if (!match) throw new CliError(`--route wants PATH=IP:PORT[,ws] or PATH=container:NAME:PORT[,ws], got ${spec}`);
    const named = /^container:([^:]+):([0-9]{1,5})$/.exec(match[2]);
    const upstream = named ? { container: named[1], port: Number(named[2]) } : match[2];
    return { path: match[1], upstream, websocket: Boolean(match[3]) };
  });
}

const upstreamText = (upstream: string | { container: string; port: number }) =>
  typeof upstream === 'string' ? upstream : `container ${upstream.container}:${upstream.port}`;

function fieldsOf(argv: Record<string, any>) {
  return {
    ...(argv.domain ? { domains: argv.domain } : {}),
    ...(argv.route ? { routes: routesOf(argv.route) } : {}),
    ...(argv.static !== undefined ? { static: argv.static } : {}),
    ...(argv.maxBody ? { maxBodySize: argv.maxBody } : {}),
    ...(argv.www ? { wwwRedirect: argv.www } : {}),
    ...(argv.httpsRedirect !== undefined ? { httpsRedirect: argv.httpsRedirect } : {}),
  };
}

/** A site's URL; admins say whose with --owner when several users have a site of that name. */
const siteUrl = (argv: Record<string, any>) =>
  `/v1/websites/${encodeURIComponent(argv.name)}${argv.owner ? `?owner=${encodeURIComponent(argv.owner)}` : ''}`;
const ownerOption = (y: any) =>
  y.option('owner', { type: 'string', describe: "admins: the site's owner, when several users have a site of this name" });

const report = (client: UpClient, change: Change, argv: { wait: boolean; timeout: number }) =>
  reportFanOut(client, change, argv, `${change.website.name}: ${change.website.url} (generation ${change.website.generation})`);

const siteOptions = (y: any) =>
  waitOptions(y)
    .option('domain', { type: 'string', array: true, describe: 'primary domain first, then aliases (IDN accepted)' })
    .option('route', {
      type: 'string',
      array: true,
      describe: 'PATH=IP:PORT[,ws] or PATH=container:NAME:PORT[,ws]: forward PATH to an upstream or one of your containers',
    })
    .option('static', { type: 'boolean', describe: 'serve the document root for other paths' })
    .option('max-body', { type: 'string', describe: 'maximum request body, e.g. 10m' })
    .option('www', { choices: ['none', 'to-apex', 'to-www'], describe: 'www redirect' })
    .option('https-redirect', { type: 'boolean', describe: 'redirect HTTP to HTTPS once a certificate exists' });

const create: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a website; it answers at once at <name>-<user>.<wildcard>',
  builder: (y) => siteOptions(y).option('proxy', { type: 'string', demandOption: true, describe: 'the proxy group' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', '/v1/websites', {
      body: { name: argv.name, proxy: argv.proxy, ...fieldsOf(argv) },
    });
    await report(client, body, argv);
  },
};

const edit: CommandModule<Common, Args> = {
  command: 'edit <name>',
  describe: 'change a website (the options given replace the stored ones)',
  builder: (y) => ownerOption(siteOptions(y)),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('PATCH', siteUrl(argv), { body: fieldsOf(argv) });
    await report(client, body, argv);
  },
};

const remove: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a website from every proxy host',
  builder: (y) => yesOption(ownerOption(waitOptions(y))),
  handler: async (argv) => {
    await confirm(`delete website ${argv.name} and its content from every proxy host?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('DELETE', siteUrl(argv));
    await report(client, body, argv);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your websites',
  handler: async (_argv) => {
    const body = await UpClient.fromEnvironment().listAll<Website>('/v1/websites');
    emit(body, () =>
      table(
        body.map((s) => ({ name: s.name, proxy: s.proxy, url: s.url, domains: s.domains.join(' '), generation: s.generation })),
        ['name', 'proxy', 'url', 'domains', 'generation'],
      ),
    );
  },
};

/** A website as `show` prints it, like the other `show` commands: one field a line, members as a table. */
export function describeWebsite(s: Website): string {
  const routes = (s.routes as { path: string; upstream: string | { container: string; port: number }; websocket: boolean }[]).map(
    (r) => `${r.path} → ${upstreamText(r.upstream)}${r.websocket ? ' (websocket)' : ''}`,
  );
  const lines = [
    `website     ${s.name} (owner ${s.owner}, proxy ${s.proxy})`,
    `url         ${s.url}`,
    `temporary   ${s.tempDomain}`,
    `domains     ${s.domains.join(' ') || '-'}`,
    `static      ${s.static ? 'yes' : 'no'}`,
    `routes      ${routes.join(', ') || '-'}`,
    `max body    ${s.maxBodySize}`,
    `www         ${s.wwwRedirect}`,
    `tls         ${s.tls ? 'yes' : 'no'}${s.httpsRedirect ? ', HTTP redirects to HTTPS' : ''}`,
    ...(s.basicAuth ? [`basic auth  ${s.basicAuth.realm}: ${s.basicAuth.users.join(', ')}`] : []),
    `generation  ${s.generation}`,
    `updated     ${when(s.updatedAt)}`,
    '',
    table(
      (s.hosts as { host: string; appliedGeneration: number | null; error: string | null }[]).map((h) => ({
        host: h.host,
        applied: h.appliedGeneration,
        error: h.error,
      })),
      ['host', 'applied', 'error'],
    ),
  ];
  return lines.join('\n');
}

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one website, with what each proxy host applied',
  builder: ownerOption,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Website>('GET', siteUrl(argv));
    emit(body, () => describeWebsite(body));
  },
};

const deploy: CommandModule<Common, Args> = {
  command: 'deploy <name> <dir>',
  describe: "upload a directory as the website's document root on every proxy host",
  // Waits by default: a deploy is read as done when the files are served (--no-wait: not).
  builder: (y) =>
    waitOptions(y, 300).option('wait', { type: 'boolean', default: true, describe: 'follow the jobs to their end (--no-wait: do not)' }),
  handler: async (argv) => {
    if (!isDirectory(argv.dir)) throw new CliError(`${JSON.stringify(argv.dir)} is not a directory`);
    // ustar: plain headers the gateway checks entry by entry (files and directories only).
    const { stdout } = await run('tar', ['--format=ustar', '-czf', '-', '-C', argv.dir, '.'], {
      encoding: 'buffer',
      maxBuffer: 80 * 1024 * 1024,
    });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', `/v1/websites/${encodeURIComponent(argv.name)}/content`, {
      body: { archive: stdout.toString('base64') },
      timeoutMs: 300_000,
    });
    await report(client, body, argv);
  },
};

export const websites = group('up websites', [create, edit, remove, list, show, deploy]);
