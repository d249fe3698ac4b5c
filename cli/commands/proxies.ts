import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table } from '../output.ts';

type Common = { json: boolean };
type Args = Common & { wait: boolean; timeout: number } & Record<string, any>;
type Proxy = { name: string; wildcardDomain: string; addresses: string[]; generation: number; hosts: { name: string; appliedGeneration: number | null; error: string | null }[] };
type Change = { proxy: Proxy; jobs: Job[] };

const report = (client: UpClient, change: Change, argv: Common & { wait: boolean; timeout: number }) =>
  reportFanOut(client, change, argv, `${change.proxy.name} *.${change.proxy.wildcardDomain} generation ${change.proxy.generation}`);

const waitOptions = (y: any) => y.option('wait', { type: 'boolean', default: false }).option('timeout', { type: 'number', default: 120 });

const create: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a proxy group',
  builder: (y) =>
    waitOptions(y)
      .option('wildcard', { type: 'string', demandOption: true, describe: 'base domain: p1.example.net serves *.p1.example.net' })
      .option('address', { type: 'string', array: true, demandOption: true, describe: 'public IPv4/IPv6 addresses' })
      .option('base-dir', { type: 'string', describe: "up's nginx directory on members (default /srv/up/nginx)" })
      .option('port', { type: 'number', describe: 'HTTP port (default 80)' })
      .option('https-port', { type: 'number', describe: 'HTTPS port (default 443)' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { name: argv.name, wildcardDomain: argv.wildcard, addresses: argv.address, ...(argv.baseDir ? { baseDir: argv.baseDir } : {}), ...(argv.port ? { httpPort: argv.port } : {}), ...(argv.httpsPort ? { httpsPort: argv.httpsPort } : {}) };
    await report(client, (await client.request<Change>('POST', '/v1/proxies', { body })).body, argv);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'proxy groups',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Proxy[]>('GET', '/v1/proxies');
    emit(argv.json, body, () =>
      table(body.map((p) => ({ name: p.name, wildcard: p.wildcardDomain, addresses: p.addresses.join(' '), hosts: p.hosts.map((h) => h.name).join(' '), generation: p.generation })), ['name', 'wildcard', 'addresses', 'hosts', 'generation']),
    );
  },
};

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one proxy group, with the generation each member applied',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Proxy>('GET', `/v1/proxies/${encodeURIComponent(argv.name)}`);
    emit(argv.json, body, () =>
      [`${body.name} *.${body.wildcardDomain} generation ${body.generation}`, table(body.hosts.map((h) => ({ host: h.name, applied: h.appliedGeneration, error: h.error })), ['host', 'applied', 'error'])].join('\n'),
    );
  },
};

const hostsAdd: CommandModule<Common, Args> = {
  command: 'add <name> <host>',
  describe: 'add a host (role proxy) to a group',
  builder: (y) => waitOptions(y).option('base-dir', { type: 'string', describe: "this member's nginx directory, if not the group's" }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { host: argv.host, ...(argv.baseDir ? { baseDir: argv.baseDir } : {}) };
    await report(client, (await client.request<Change>('POST', `/v1/proxies/${encodeURIComponent(argv.name)}/hosts`, { body })).body, argv);
  },
};

const hostsRemove: CommandModule<Common, Args> = {
  command: 'remove <name> <host>',
  describe: 'remove a host from a group (its vhosts are removed from it)',
  builder: waitOptions,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const path = `/v1/proxies/${encodeURIComponent(argv.name)}/hosts/${encodeURIComponent(argv.host)}`;
    await report(client, (await client.request<Change>('DELETE', path)).body, argv);
  },
};

const hosts: CommandModule<Common, Common> = {
  command: 'hosts <command>',
  describe: "a group's member hosts",
  builder: (y) => y.command([hostsAdd, hostsRemove] as never).demandCommand(1),
  handler: () => undefined,
};

export const proxies: CommandModule<Common, Common> = {
  command: 'proxies <command>',
  describe: 'proxy groups: nginx hosts serving a wildcard domain (admin)',
  builder: (y) => y.command([create, list, show, hosts] as never).demandCommand(1),
  handler: () => undefined,
};
