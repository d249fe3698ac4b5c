import { domainToASCII } from 'node:url';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { group, subgroup } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import type { Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitAndReport, waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
interface Follow {
  wait: boolean;
  timeout: number;
}

const follow = (y: any) => waitOptions(y) as never;

/** Zone names go into URLs as the API stores them: lower-case ASCII, IDN as punycode. */
const zonePath = (zone: string) => encodeURIComponent(domainToASCII(zone.replace(/\.$/, '')).toLowerCase() || zone);

/** Submits a change; prints the job, or follows it with --wait. */
async function submit(argv: Follow, method: string, path: string, body?: unknown): Promise<void> {
  const client = UpClient.fromEnvironment();
  const { body: job } = await client.request<Job>(method, path, { body });
  if (argv.wait) return waitAndReport(client, job.id, argv);
  emit(job, () => `job ${job.id} ${job.status}`);
}

async function get<T>(path: string): Promise<T> {
  return (await UpClient.fromEnvironment().request<T>('GET', path)).body;
}

/** Every item of a list (the API pages them). */
const getAll = <T>(path: string): Promise<T[]> => UpClient.fromEnvironment().listAll<T>(path);

// ---- servers (admin)

interface ServerArgs {
  name: string;
  primary: string;
  address: string;
  port: number;
  rndcConf?: string;
  zoneDir?: string;
  keyName: string;
  algorithm?: string;
  nameserver?: string;
  secondary?: string[];
}

const serversAdd: CommandModule<Common, ServerArgs> = {
  command: 'add <name>',
  describe: 'register an authoritative server; its TSIG secret goes in $UP_TSIG_KEYS_DIR/<key-name> on the handlers, never here',
  builder: (y) =>
    y
      .option('primary', { type: 'string', demandOption: true, describe: 'the host (by name) that runs the primary' })
      .option('address', { type: 'string', demandOption: true, describe: 'where it takes UPDATE and AXFR' })
      .option('port', { type: 'number', default: 53 })
      .option('rndc-conf', { type: 'string', describe: 'rndc.conf on the primary (default /etc/bind/rndc.conf)' })
      .option('zone-dir', { type: 'string', describe: 'zone files on the primary (default /var/lib/bind)' })
      .option('key-name', { type: 'string', demandOption: true })
      .option('algorithm', { type: 'string', describe: 'default hmac-sha256' })
      .option('nameserver', { type: 'string', describe: 'the NS of every zone (default ns1.<zone>)' })
      .option('secondary', { type: 'string', array: true, describe: 'secondary addresses' }) as never,
  handler: async (argv) => {
    const body = {
      name: argv.name,
      primary: argv.primary,
      address: argv.address,
      port: argv.port,
      keyName: argv.keyName,
      ...(argv.rndcConf ? { rndcConf: argv.rndcConf } : {}),
      ...(argv.zoneDir ? { zoneDir: argv.zoneDir } : {}),
      ...(argv.algorithm ? { algorithm: argv.algorithm } : {}),
      ...(argv.nameserver ? { nameserver: argv.nameserver } : {}),
      secondaries: argv.secondary ?? [],
    };
    const { body: server } = await UpClient.fromEnvironment().request<{ name: string }>('POST', '/v1/dns/servers', { body });
    emit(server, () => `DNS server ${server.name} registered`);
  },
};

const serversList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'DNS servers',
  handler: async (_argv) => {
    const servers = await getAll<Record<string, unknown>>('/v1/dns/servers');
    emit(servers, () =>
      table(
        servers.map((s) => ({ ...s, endpoint: `${s.address}:${s.port}` })),
        ['name', 'primary', 'endpoint', 'keyName', 'algorithm', 'nameserver'],
      ),
    );
  },
};

const serversRemove: CommandModule<Common, { name: string; yes: boolean }> = {
  command: 'remove <name>',
  describe: 'forget a DNS server that holds no zones',
  builder: (y) => yesOption(y) as never,
  handler: async (argv) => {
    await confirm(`forget DNS server ${argv.name}?`, { yes: argv.yes });
    await UpClient.fromEnvironment().request('DELETE', `/v1/dns/servers/${encodeURIComponent(argv.name)}`);
    emit({ removed: argv.name }, () => `DNS server ${argv.name} removed`);
  },
};

// ---- zones

const zonesCreate: CommandModule<Common, Follow & { zone: string; server?: string }> = {
  command: 'create <zone>',
  describe: 'create a zone on a DNS server',
  builder: (y) => follow(y.option('server', { type: 'string', describe: 'default: the only server' })),
  handler: (argv) => submit(argv, 'POST', '/v1/dns/zones', { name: argv.zone, ...(argv.server ? { server: argv.server } : {}) }),
};

const zoneColumns = ['name', 'server', 'status', 'serial', 'applied', 'message'];
const zoneRow = (z: Record<string, unknown>) => ({ ...z, applied: when(z.appliedAt as string | null), message: z.statusMessage });

const zonesList: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your zones',
  handler: async (_argv) => {
    const zones = await getAll<Record<string, unknown>>('/v1/dns/zones');
    emit(zones, () => table(zones.map(zoneRow), zoneColumns));
  },
};

/** A record kept for a website or a proxy group says so: it changes with that, not by hand. */
const recordRow = (r: Record<string, unknown>) => {
  const by = r.managedBy as { kind: string; name: string } | null | undefined;
  return { ...r, managed: by ? `${by.kind} ${by.name}` : null };
};
const RECORD_COLUMNS = ['id', 'name', 'ttl', 'type', 'rdata', 'managed'];

const zonesShow: CommandModule<Common, { zone: string }> = {
  command: 'show <zone>',
  describe: 'a zone, whether its server has it, and its records',
  handler: async (argv) => {
    const zone = await get<Record<string, unknown>>(`/v1/dns/zones/${zonePath(argv.zone)}`);
    const records = await getAll<Record<string, unknown>>(`/v1/dns/zones/${zonePath(argv.zone)}/records`);
    emit({ ...zone, records }, () => `${table([zoneRow(zone)], zoneColumns)}\n\n${table(records.map(recordRow), RECORD_COLUMNS)}`);
  },
};

const zonesDelete: CommandModule<Common, Follow & { zone: string; yes: boolean }> = {
  command: 'delete <zone>',
  describe: 'delete a zone and its records',
  builder: (y) => yesOption(follow(y)),
  handler: async (argv) => {
    await confirm(`delete zone ${argv.zone} and all its records?`, { yes: argv.yes });
    await submit(argv, 'DELETE', `/v1/dns/zones/${zonePath(argv.zone)}`);
  },
};

const zonesVerify: CommandModule<Common, Follow & { zone: string; repair: boolean }> = {
  command: 'verify <zone>',
  describe: 'compare what the server serves with the records here; --repair converges the server',
  builder: (y) => follow(y.option('repair', { type: 'boolean', default: false })),
  handler: (argv) => submit(argv, 'POST', `/v1/dns/zones/${zonePath(argv.zone)}/verify`, { repair: argv.repair }),
};

const zonesAssign: CommandModule<Common, Common & { zone: string; user: string }> = {
  command: 'assign <zone> <user>',
  describe: 'give a zone to another user (admin): how a user gets a reverse zone',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ zone: Record<string, unknown>; jobs: Job[] }>(
      'POST',
      `/v1/dns/zones/${zonePath(argv.zone)}/assign`,
      { body: { user: argv.user } },
    );
    emit(body, () =>
      [table([zoneRow(body.zone)], zoneColumns), ...body.jobs.map((job) => `job ${job.id} ${job.op} ${job.status}`)].join('\n'),
    );
  },
};

// ---- records

/** `A 10.0.0.5`, `MX 10 mx.example.net`, `SRV 1 5 5060 sip.example.net`, `CAA 0 issue letsencrypt.org`, `TXT any words`. */
export function recordValue(type: string, values: readonly string[]): Record<string, unknown> {
  const need = (n: number, shape: string) => {
    if (values.length < n) throw new CliError(`${type} needs: ${shape}`);
  };
  const int = (v: string, what: string) => {
    if (!/^\d{1,10}$/.test(v)) throw new CliError(`${type} ${what} must be a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  switch (type) {
    case 'A':
    case 'AAAA':
      need(1, '<address>');
      return { address: values[0] };
    case 'CNAME':
    case 'NS':
    case 'PTR':
      need(1, '<host name>');
      return { target: values[0] };
    case 'MX':
      need(2, '<preference> <exchange>');
      return { preference: int(values[0], '<preference>'), exchange: values[1] };
    case 'TXT':
      need(1, '<text>');
      return { text: values.join(' ') };
    case 'SRV':
      need(4, '<priority> <weight> <port> <target>');
      return {
        priority: int(values[0], '<priority>'),
        weight: int(values[1], '<weight>'),
        port: int(values[2], '<port>'),
        target: values[3],
      };
    case 'CAA':
      need(3, '<flags> <tag> <value>');
      return { flags: int(values[0], '<flags>'), tag: values[1], value: values.slice(2).join(' ') };
    default:
      throw new CliError(`unknown record type ${type} (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS, PTR)`);
  }
}

const recordsAdd: CommandModule<Common, Follow & { zone: string; name: string; type: string; value: string[]; ttl?: number }> = {
  command: 'add <zone> <name> <type> <value..>',
  describe: 'add a record, e.g. `up dns records add example.test www A 10.0.0.5 --ttl 300`',
  builder: (y) => follow(y.option('ttl', { type: 'number', describe: 'seconds (60..604800, default 3600)' })),
  handler: (argv) => {
    const type = argv.type.toUpperCase();
    const body = {
      name: argv.name,
      type,
      ...(argv.ttl !== undefined ? { ttl: argv.ttl } : {}),
      ...recordValue(type, argv.value.map(String)),
    };
    return submit(argv, 'POST', `/v1/dns/zones/${zonePath(argv.zone)}/records`, body);
  },
};

const recordsList: CommandModule<Common, { zone: string }> = {
  command: 'list <zone>',
  describe: "a zone's records",
  handler: async (argv) => {
    const records = await getAll<Record<string, unknown>>(`/v1/dns/zones/${zonePath(argv.zone)}/records`);
    emit(records, () => table(records.map(recordRow), RECORD_COLUMNS));
  },
};

const recordsUpdate: CommandModule<Common, Follow & { zone: string; id: string; value?: string[]; ttl?: number }> = {
  command: 'update <zone> <id> [value..]',
  describe: "change a record's value and/or TTL (its name and type stay)",
  builder: (y) => follow(y.option('ttl', { type: 'number' })),
  handler: async (argv) => {
    const values = (argv.value ?? []).map(String);
    if (values.length === 0 && argv.ttl === undefined) throw new CliError('give a new value, --ttl, or both');
    let body: Record<string, unknown> = argv.ttl !== undefined ? { ttl: argv.ttl } : {};
    if (values.length > 0) {
      const records = await getAll<{ id: string; type: string }>(`/v1/dns/zones/${zonePath(argv.zone)}/records`);
      const record = records.find((r) => r.id === argv.id);
      if (!record) throw new CliError(`no record ${argv.id} in ${argv.zone}`);
      body = { ...body, ...recordValue(record.type, values) };
    }
    return submit(argv, 'PATCH', `/v1/dns/zones/${zonePath(argv.zone)}/records/${encodeURIComponent(argv.id)}`, body);
  },
};

const recordsDelete: CommandModule<Common, Follow & { zone: string; id: string; yes: boolean }> = {
  command: 'delete <zone> <id>',
  describe: 'delete a record',
  builder: (y) => yesOption(follow(y)),
  handler: async (argv) => {
    await confirm(`delete record ${argv.id} of ${argv.zone}?`, { yes: argv.yes });
    await submit(argv, 'DELETE', `/v1/dns/zones/${zonePath(argv.zone)}/records/${encodeURIComponent(argv.id)}`);
  },
};

export const dns = group('up dns', [
  subgroup('servers', 'authoritative servers (admin)', 'up dns servers', [serversAdd, serversList, serversRemove]),
  subgroup('zones', 'your zones', 'up dns zones', [zonesCreate, zonesList, zonesShow, zonesDelete, zonesVerify, zonesAssign]),
  subgroup('records', "a zone's records", 'up dns records', [recordsAdd, recordsList, recordsUpdate, recordsDelete]),
]);
