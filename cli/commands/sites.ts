import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table } from '../output.ts';

type Common = { json: boolean };
type Args = Common & { wait: boolean; timeout: number } & Record<string, any>;
type Website = Record<string, any> & { name: string; tempDomain: string; url: string; generation: number; jobs?: Job[] };
type Change = { website: Website; jobs: Job[] };

const run = promisify(execFile);

/** `--route /api=10.0.0.5:3000` (append `,ws` for websockets). */
function routesOf(specs: string[] | undefined) {
  return specs?.map((spec) => {
    const match = /^([^=]+)=([^,]+)(,ws)?$/.exec(spec);
    if (!match) throw new CliError(`--route wants PATH=IP:PORT[,ws], got ${spec}`);
    return { path: match[1], upstream: match[2], websocket: Boolean(match[3]) };
  });
}

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

const report = (client: UpClient, change: Change, argv: Common & { wait: boolean; timeout: number }) =>
  reportFanOut(client, change, argv, `${change.website.name}: ${change.website.url} (generation ${change.website.generation})`);

const siteOptions = (y: any) =>
  y
    .option('domain', { type: 'string', array: true, describe: 'primary domain first, then aliases (IDN accepted)' })
    .option('route', { type: 'string', array: true, describe: 'PATH=IP:PORT[,ws]: forward PATH to an upstream' })
    .option('static', { type: 'boolean', describe: 'serve the document root for other paths' })
    .option('max-body', { type: 'string', describe: 'maximum request body, e.g. 10m' })
    .option('www', { choices: ['none', 'to-apex', 'to-www'], describe: 'www redirect' })
    .option('https-redirect', { type: 'boolean', describe: 'redirect HTTP to HTTPS once a certificate exists' })
    .option('wait', { type: 'boolean', default: false, describe: 'follow the jobs to their end' })
    .option('timeout', { type: 'number', default: 120 });

const create: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a website; it answers at once at <name>-<user>.<wildcard>',
  builder: (y) => siteOptions(y).option('proxy', { type: 'string', demandOption: true, describe: 'the proxy group' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', '/v1/websites', { body: { name: argv.name, proxy: argv.proxy, ...fieldsOf(argv) } });
    await report(client, body, argv);
  },
};

const edit: CommandModule<Common, Args> = {
  command: 'edit <name>',
  describe: 'change a website (the options given replace the stored ones)',
  builder: siteOptions,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('PATCH', `/v1/websites/${encodeURIComponent(argv.name)}`, { body: fieldsOf(argv) });
    await report(client, body, argv);
  },
};

const remove: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a website from every proxy host',
  builder: (y) => y.option('wait', { type: 'boolean', default: false }).option('timeout', { type: 'number', default: 120 }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('DELETE', `/v1/websites/${encodeURIComponent(argv.name)}`);
    await report(client, body, argv);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your websites',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Website[]>('GET', '/v1/websites');
    emit(argv.json, body, () =>
      table(body.map((s) => ({ name: s.name, proxy: s.proxy, url: s.url, domains: s.domains.join(' '), generation: s.generation })), ['name', 'proxy', 'url', 'domains', 'generation']),
    );
  },
};

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one website, with what each proxy host applied',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Website>('GET', `/v1/websites/${encodeURIComponent(argv.name)}`);
    emit(argv.json, body, () => JSON.stringify(body, null, 2));
  },
};

const deploy: CommandModule<Common, Args> = {
  command: 'deploy <name> <dir>',
  describe: "upload a directory as the website's document root on every proxy host",
  builder: (y) => y.option('wait', { type: 'boolean', default: true }).option('timeout', { type: 'number', default: 300 }),
  handler: async (argv) => {
    if (!statSync(argv.dir, { throwIfNoEntry: false })?.isDirectory()) throw new CliError(`${argv.dir} is not a directory`);
    // ustar: plain headers the gateway checks entry by entry (files and directories only).
    const { stdout } = await run('tar', ['--format=ustar', '-czf', '-', '-C', argv.dir, '.'], { encoding: 'buffer', maxBuffer: 80 * 1024 * 1024 });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', `/v1/websites/${encodeURIComponent(argv.name)}/content`, {
      body: { archive: stdout.toString('base64') },
      timeoutMs: 300_000,
    });
    await report(client, body, argv);
  },
};

export const sites: CommandModule<Common, Common> = {
  command: 'sites <command>',
  describe: 'websites: static files and upstreams behind a proxy group',
  builder: (y) => y.command([create, edit, remove, list, show, deploy] as never).demandCommand(1),
  handler: () => undefined,
};
