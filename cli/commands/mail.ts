import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group, subgroup } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { UsageError } from '../errors.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Domain = {
  name: string;
  owner: string;
  host: string;
  mailHost: string;
  status: string;
  records: { name: string; type: string; data: string }[];
  recordsManaged: boolean;
  createdAt: string;
};
type Box = { address: string; domain: string; owner: string; quotaMb: number; enabled: boolean; status: string; createdAt: string };
type List = {
  address: string;
  domain: string;
  owner: string;
  policy: string;
  moderators: string[];
  members: number;
  status: string;
  createdAt: string;
};
type Alias = { address: string; domain: string; owner: string; catchAll: boolean; targets: string[]; status: string };

const path = (...parts: string[]) => `/v1/mail/${parts.map(encodeURIComponent).join('/')}`;

/** A password never on the command line (other users see it in ps): the first line of stdin. */
async function passwordFromStdin(usage: string): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('give the password on stdin: echo "$PASSWORD" | up mail boxes …', usage, `${usage} --help`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0];
  if (!password) throw new UsageError('the password on stdin is empty', usage, `${usage} --help`);
  return password;
}

const recordsText = (d: Domain) =>
  table(
    d.records.map((r) => ({ name: r.name, type: r.type, data: r.data })),
    ['name', 'type', 'data'],
  );

// ---- domains

const domainCreate: CommandModule<Common, Args> = {
  command: 'create <name>',
  describe: 'create a mail domain (the DNS records it needs are printed)',
  builder: (y) => waitOptions(y).option('host', { type: 'string', describe: 'admins: the mail host' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { name: argv.name, ...(argv.host ? { host: argv.host } : {}) };
    const change = (await client.request<{ domain: Domain; jobs: Job[] }>('POST', '/v1/mail/domains', { body })).body;
    await reportFanOut(client, change, argv, `mail domain ${change.domain.name} on ${change.domain.host}\n${recordsText(change.domain)}`);
  },
};

const domainList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your mail domains',
  handler: async () => {
    const items = await UpClient.fromEnvironment().listAll<Domain>('/v1/mail/domains');
    emit(items, () =>
      table(
        items.map((d) => ({ name: d.name, owner: d.owner, host: d.host, status: d.status, created: when(d.createdAt) })),
        ['name', 'owner', 'host', 'status', 'created'],
      ),
    );
  },
};

const domainShow: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one mail domain, with the DNS records its zone must publish',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Domain>('GET', path('domains', argv.name));
    emit(body, () =>
      [
        `${body.name} (${body.owner}) on ${body.host} as ${body.mailHost}: ${body.status}`,
        body.recordsManaged ? 'records (kept in your DNS zone here):' : 'records to publish in your DNS zone:',
        recordsText(body),
      ].join('\n'),
    );
  },
};

const domainDelete: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'delete a mail domain; with --force its mailboxes, aliases and lists (and their mail) go too',
  builder: (y) =>
    yesOption(waitOptions(y).option('force', { type: 'boolean', default: false, describe: 'also delete its mailboxes and aliases' })),
  handler: async (argv) => {
    await confirm(`delete mail domain ${argv.name}${argv.force ? ' with its mailboxes and aliases' : ''}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', `${path('domains', argv.name)}${argv.force ? '?force=true' : ''}`);
    await reportFanOut(client, body, argv, `mail domain ${argv.name}: deleted`);
  },
};

// ---- mailboxes

const boxCreate: CommandModule<Common, Args> = {
  command: 'create <address>',
  describe: 'create a mailbox; the password is read from stdin',
  builder: (y) =>
    waitOptions(y)
      .option('quota', { type: 'number', describe: 'quota in MiB (default 1024)' })
      .option('disabled', { type: 'boolean', default: false, describe: 'create it disabled' }),
  handler: async (argv) => {
    const password = await passwordFromStdin('up mail boxes create <address>');
    const client = UpClient.fromEnvironment();
    const body = {
      address: argv.address,
      password,
      ...(argv.quota ? { quotaMb: argv.quota } : {}),
      ...(argv.disabled ? { enabled: false } : {}),
    };
    const change = (await client.request<{ mailbox: Box; jobs: Job[] }>('POST', '/v1/mail/boxes', { body })).body;
    await reportFanOut(client, change, argv, `mailbox ${change.mailbox.address} (${change.mailbox.quotaMb} MiB)`);
  },
};

const boxList: CommandModule<Common, Args> = {
  command: 'list',
  describe: 'your mailboxes',
  builder: (y: any) => y.option('domain', { type: 'string', describe: 'of this domain only' }),
  handler: async (argv) => {
    const items = await UpClient.fromEnvironment().listAll<Box>(
      `/v1/mail/boxes${argv.domain ? `?domain=${encodeURIComponent(argv.domain)}` : ''}`,
    );
    emit(items, () =>
      table(
        items.map((b) => ({ address: b.address, quota: `${b.quotaMb} MiB`, enabled: b.enabled, status: b.status })),
        ['address', 'quota', 'enabled', 'status'],
      ),
    );
  },
};

const boxShow: CommandModule<Common, Args> = {
  command: 'show <address>',
  describe: 'one mailbox',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Box>('GET', path('boxes', argv.address));
    emit(body, () => `${body.address} (${body.owner}): ${body.quotaMb} MiB, ${body.enabled ? 'enabled' : 'disabled'}, ${body.status}`);
  },
};

async function editBox(argv: Args, body: Record<string, unknown>) {
  const client = UpClient.fromEnvironment();
  const change = (await client.request<{ mailbox: Box; jobs: Job[] }>('PATCH', path('boxes', argv.address), { body })).body;
  await reportFanOut(client, change, argv, `mailbox ${change.mailbox.address}: changed`);
}

const boxEdit: CommandModule<Common, Args> = {
  command: 'edit <address>',
  describe: "change a mailbox's quota or whether it is enabled",
  builder: (y) =>
    waitOptions(y)
      .option('quota', { type: 'number', describe: 'quota in MiB' })
      .option('enabled', { type: 'boolean', describe: '--no-enabled: it neither receives mail nor logs in' }),
  handler: async (argv) => {
    const body = { ...(argv.quota ? { quotaMb: argv.quota } : {}), ...(argv.enabled === undefined ? {} : { enabled: argv.enabled }) };
    if (Object.keys(body).length === 0)
      throw new UsageError('give --quota or --enabled/--no-enabled', 'up mail boxes edit <address>', 'up mail boxes edit --help');
    await editBox(argv, body);
  },
};

const boxPasswd: CommandModule<Common, Args> = {
  command: 'passwd <address>',
  describe: "set a mailbox's password, read from stdin",
  builder: (y) => waitOptions(y),
  handler: async (argv) => editBox(argv, { password: await passwordFromStdin('up mail boxes passwd <address>') }),
};

const boxDelete: CommandModule<Common, Args> = {
  command: 'delete <address>',
  describe: 'delete a mailbox',
  builder: (y) => yesOption(waitOptions(y)),
  handler: async (argv) => {
    await confirm(`delete mailbox ${argv.address}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', path('boxes', argv.address));
    await reportFanOut(client, body, argv, `mailbox ${argv.address}: deleted`);
  },
};

// ---- aliases

const aliasCreate: CommandModule<Common, Args> = {
  command: 'create <address> <targets..>',
  describe: 'forward an address (or @domain: the catch-all) to one or more addresses',
  builder: (y) => waitOptions(y),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const change = (
      await client.request<{ alias: Alias; jobs: Job[] }>('POST', '/v1/mail/aliases', {
        body: { address: argv.address, targets: argv.targets },
      })
    ).body;
    await reportFanOut(client, change, argv, `alias ${change.alias.address} → ${change.alias.targets.join(', ')}`);
  },
};

const aliasList: CommandModule<Common, Args> = {
  command: 'list',
  describe: 'your mail aliases',
  builder: (y: any) => y.option('domain', { type: 'string', describe: 'of this domain only' }),
  handler: async (argv) => {
    const items = await UpClient.fromEnvironment().listAll<Alias>(
      `/v1/mail/aliases${argv.domain ? `?domain=${encodeURIComponent(argv.domain)}` : ''}`,
    );
    emit(items, () =>
      table(
        items.map((a) => ({ address: a.address, targets: a.targets.join(', '), status: a.status })),
        ['address', 'targets', 'status'],
      ),
    );
  },
};

const aliasDelete: CommandModule<Common, Args> = {
  command: 'delete <address>',
  describe: 'delete a mail alias',
  builder: (y) => yesOption(waitOptions(y)),
  handler: async (argv) => {
    await confirm(`delete alias ${argv.address}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', path('aliases', argv.address));
    await reportFanOut(client, body, argv, `alias ${argv.address}: deleted`);
  },
};

// ---- lists

const listCreate: CommandModule<Common, Args> = {
  command: 'create <address>',
  describe: 'create a mailing list',
  builder: (y) =>
    waitOptions(y)
      .option('policy', {
        choices: ['members-only', 'moderated', 'announce-only'],
        default: 'members-only',
        describe: 'who may post: members, anyone after a moderator approved, or moderators only',
      })
      .option('moderator', { type: 'string', array: true, describe: 'a moderator (repeat); the first owns the list' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { address: argv.address, policy: argv.policy, ...(argv.moderator ? { moderators: argv.moderator } : {}) };
    const change = (await client.request<{ list: List; jobs: Job[] }>('POST', '/v1/mail/lists', { body })).body;
    await reportFanOut(client, change, argv, `list ${change.list.address} (${change.list.policy})`);
  },
};

const listList: CommandModule<Common, { domain?: string }> = {
  command: 'list',
  describe: 'your mailing lists',
  builder: (y) => y.option('domain', { type: 'string', describe: 'of this domain only' }),
  handler: async (argv) => {
    const items = await UpClient.fromEnvironment().listAll<List>(
      `/v1/mail/lists${argv.domain ? `?domain=${encodeURIComponent(argv.domain)}` : ''}`,
    );
    emit(items, () =>
      table(
        items.map((l) => ({ address: l.address, policy: l.policy, members: l.members, status: l.status })),
        ['address', 'policy', 'members', 'status'],
      ),
    );
  },
};

const listShow: CommandModule<Common, Args> = {
  command: 'show <address>',
  describe: 'one mailing list',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<List>('GET', path('lists', argv.address));
    emit(body, () =>
      [
        `${body.address} (${body.owner}): ${body.policy}, ${body.members} members, ${body.status}`,
        ...(body.moderators.length ? [`moderators: ${body.moderators.join(', ')}`] : []),
      ].join('\n'),
    );
  },
};

const listDelete: CommandModule<Common, Args> = {
  command: 'delete <address>',
  describe: 'delete a mailing list with its members and archive',
  builder: (y) => yesOption(waitOptions(y)),
  handler: async (argv) => {
    await confirm(`delete list ${argv.address}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ jobs: Job[] }>('DELETE', path('lists', argv.address));
    await reportFanOut(client, body, argv, `list ${argv.address}: deleted`);
  },
};

const membership = (verb: 'subscribe' | 'unsubscribe'): CommandModule<Common, Args> => ({
  command: `${verb} <list> <addresses..>`,
  describe: verb === 'subscribe' ? 'subscribe addresses to a list' : 'unsubscribe addresses from a list',
  builder: (y) => waitOptions(y),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const url = `${path('lists', argv.list, 'members')}${verb === 'unsubscribe' ? '/remove' : ''}`;
    const change = (await client.request<{ list: List; jobs: Job[] }>('POST', url, { body: { addresses: argv.addresses } })).body;
    await reportFanOut(client, change, argv, `list ${change.list.address}: ${change.list.members} members`);
  },
});

const listMembers: CommandModule<Common, Args> = {
  command: 'members <list>',
  describe: "a list's members",
  handler: async (argv) => {
    const items = await UpClient.fromEnvironment().listAll<{ address: string; subscribedAt: string }>(path('lists', argv.list, 'members'));
    emit(items, () =>
      table(
        items.map((m) => ({ address: m.address, since: when(m.subscribedAt) })),
        ['address', 'since'],
      ),
    );
  },
};

export const mail = group('up mail', [
  subgroup('domains', 'mail domains', 'up mail domains', [domainCreate, domainList, domainShow, domainDelete]),
  subgroup('boxes', 'mailboxes', 'up mail boxes', [boxCreate, boxList, boxShow, boxEdit, boxPasswd, boxDelete]),
  subgroup('aliases', 'aliases and catch-alls', 'up mail aliases', [aliasCreate, aliasList, aliasDelete]),
  subgroup('lists', 'mailing lists (mlmmj)', 'up mail lists', [
    listCreate,
    listList,
    listShow,
    listDelete,
    membership('subscribe'),
    membership('unsubscribe'),
    listMembers,
  ]),
]);
