import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group, subgroup } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { UsageError } from '../errors.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Proxy = {
  name: string;
  wildcardDomain: string;
  addresses: string[];
  upstreamNetworks: string[] | null;
  generation: number;
  hosts: { name: string; appliedGeneration: number | null; error: string | null }[];
};
type Change = { proxy: Proxy; jobs: Job[] };

const report = (client: UpClient, change: Change, argv: { wait: boolean; timeout: number }) =>
  reportFanOut(client, change, argv, `${change.proxy.name} *.${change.proxy.wildcardDomain} generation ${change.proxy.generation}`);

const create: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a proxy group',
  builder: (y) =>
    waitOptions(y)
      .option('wildcard', { type: 'string', demandOption: true, describe: 'base domain: p1.example.net serves *.p1.example.net' })
      .option('address', { type: 'string', array: true, demandOption: true, describe: 'public IPv4/IPv6 addresses' })
      .option('base-dir', { type: 'string', describe: "up's nginx directory on members (default /srv/up/nginx)" })
      .option('port', { type: 'number', describe: 'HTTP port (default 80)' })
      .option('https-port', { type: 'number', describe: 'HTTPS port (default 443)' })
      .option('upstream-network', {
        type: 'string',
        array: true,
        describe: "CIDRs websites' upstreams must lie in (default: anywhere allowed)",
      }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = {
      name: argv.name,
      wildcardDomain: argv.wildcard,
      addresses: argv.address,
      ...(argv.baseDir ? { baseDir: argv.baseDir } : {}),
      ...(argv.port ? { httpPort: argv.port } : {}),
      ...(argv.httpsPort ? { httpsPort: argv.httpsPort } : {}),
      ...(argv.upstreamNetwork ? { upstreamNetworks: argv.upstreamNetwork } : {}),
    };
    await report(client, (await client.request<Change>('POST', '/v1/proxies', { body })).body, argv);
  },
};

const edit: CommandModule<Common, Args> = {
  command: 'edit <name>',
  describe: "restrict (or free) where the group's websites' upstreams may lie; refused while a site would break the rule",
  builder: (y: any) =>
    y
      .option('upstream-network', { type: 'string', array: true, describe: 'CIDRs every upstream must lie in' })
      .option('any-upstream-network', { type: 'boolean', describe: 'lift the restriction' }),
  handler: async (argv) => {
    if (Boolean(argv.upstreamNetwork) === Boolean(argv.anyUpstreamNetwork)) {
      throw new UsageError('give --upstream-network or --any-upstream-network', 'up proxies edit <name>', 'up proxies edit --help');
    }
    const body = { upstreamNetworks: argv.anyUpstreamNetwork ? null : argv.upstreamNetwork };
    const { body: proxy } = await UpClient.fromEnvironment().request<Proxy>('PATCH', `/v1/proxies/${encodeURIComponent(argv.name)}`, {
      body,
    });
    emit(proxy, () => `${proxy.name}: upstreams in ${proxy.upstreamNetworks?.join(' ') ?? 'any network'}`);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'proxy groups',
  handler: async (_argv) => {
    const body = await UpClient.fromEnvironment().listAll<Proxy>('/v1/proxies');
    emit(body, () =>
      table(
        body.map((p) => ({
          name: p.name,
          wildcard: p.wildcardDomain,
          addresses: p.addresses.join(' '),
          hosts: p.hosts.map((h) => h.name).join(' '),
          generation: p.generation,
        })),
        ['name', 'wildcard', 'addresses', 'hosts', 'generation'],
      ),
    );
  },
};

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one proxy group, with the generation each member applied',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Proxy>('GET', `/v1/proxies/${encodeURIComponent(argv.name)}`);
    emit(body, () =>
      [
        `${body.name} *.${body.wildcardDomain} generation ${body.generation}`,
        table(
          body.hosts.map((h) => ({ host: h.name, applied: h.appliedGeneration, error: h.error })),
          ['host', 'applied', 'error'],
        ),
      ].join('\n'),
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
  builder: (y) => yesOption(waitOptions(y)),
  handler: async (argv) => {
    await confirm(`remove host ${argv.host} from proxy group ${argv.name} (its vhosts are removed from it)?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const path = `/v1/proxies/${encodeURIComponent(argv.name)}/hosts/${encodeURIComponent(argv.host)}`;
    await report(client, (await client.request<Change>('DELETE', path)).body, argv);
  },
};

const remove: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a proxy group without websites or members (its wildcard certificate and DNS records go too)',
  builder: (y) => yesOption(waitOptions(y)),
  handler: async (argv) => {
    await confirm(`delete proxy group ${argv.name}, its wildcard certificate and its DNS records?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', `/v1/proxies/${encodeURIComponent(argv.name)}`);
    await reportFanOut(client, body, argv, `proxy group ${argv.name}: deleted`);
  },
};

export const proxies = group('up proxies', [
  create,
  edit,
  list,
  show,
  remove,
  subgroup('hosts', "a group's member hosts", 'up proxies hosts', [hostsAdd, hostsRemove]),
]);
