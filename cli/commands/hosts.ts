import type { CommandModule } from 'yargs';
import type { hostView } from '../../gateway/hosts/views.ts';
import { CliError, UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { exitCodeOf, followJob, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitAndReport, waitOptions } from './jobs.ts';

type Host = ReturnType<typeof hostView>;
type Common = Record<string, unknown>;
interface Waiting {
  wait: boolean;
  timeout: number;
}

const hostPath = (name: string) => `/v1/hosts/${encodeURIComponent(name)}`;

/** What a scanned key needs before it is pinned: a person's yes, or --yes from one who checked. */
const trustScannedKey = (yes: boolean) =>
  confirm('trust this host key?', {
    yes,
    refusal: 'stdin is not a terminal: check the fingerprint yourself and pass --yes (or --fingerprint)',
  });

/** Runs the keyscan job and returns the fingerprint the host offered. */
async function scanHostKey(client: UpClient, argv: { address: string; port: number; jump?: string; timeout: number }): Promise<string> {
  const body = { address: argv.address, port: argv.port, ...(argv.jump ? { jumpHost: argv.jump } : {}) };
  const { body: job } = await client.request<Job>('POST', '/v1/hosts/keyscans', { body });
  const done = await followJob(client, job.id, { timeoutMs: argv.timeout * 1000 });
  if (exitCodeOf(done) !== 0)
    throw new CliError(
      `could not fetch the host key of ${argv.address}:${argv.port}: ${done.error?.message ?? done.status} (up jobs show ${done.id})`,
    );
  return (done.result as { hostKeySha256: string }).hostKeySha256;
}

type AddArgs = {
  name: string;
  address: string;
  port: number;
  user: string;
  role?: string[];
  jump?: string;
  fingerprint?: string;
  label?: string[];
  yes: boolean;
  timeout: number;
};

const add: CommandModule<Common, AddArgs> = {
  command: 'add <name>',
  describe: 'add a host: fetch its SSH host key, confirm the fingerprint, pin it',
  builder: (y) =>
    y
      .option('address', { type: 'string', demandOption: true, describe: 'IP address or DNS name' })
      .option('port', { type: 'number', default: 22 })
      .option('user', { type: 'string', default: 'root', describe: 'SSH user' })
      .option('role', { type: 'string', array: true, describe: 'proxy, web, dns, mail, db, container, hypervisor, backup (repeatable)' })
      .option('label', { type: 'string', array: true, describe: 'key=value (repeatable)' })
      .option('jump', { type: 'string', describe: 'reach it through this host' })
      .option('fingerprint', { type: 'string', describe: 'the host key fingerprint (SHA256:...) you verified; skips the scan' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'trust the scanned fingerprint without asking' })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for the key scan' }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let fingerprint = argv.fingerprint;
    if (!fingerprint) {
      fingerprint = await scanHostKey(client, argv);
      process.stderr.write(`${argv.address}:${argv.port} offers host key ${fingerprint}\n`);
      await trustScannedKey(argv.yes);
    }
    const body = {
      name: argv.name,
      address: argv.address,
      port: argv.port,
      user: argv.user,
      hostKeySha256: fingerprint,
      ...(argv.role?.length ? { roles: argv.role } : {}),
      ...(argv.label?.length ? { labels: parseLabels(argv.label).labels } : {}),
      ...(argv.jump ? { jumpHost: argv.jump } : {}),
    };
    const { body: host } = await client.request<Host>('POST', '/v1/hosts', { body });
    emit(host, () => `added ${host.name} (${host.address}:${host.port}), host key ${host.hostKeySha256}`);
  },
};

/** `key=value` sets a label, `key-` removes one (as kubectl label does). */
function parseLabels(pairs: readonly string[]): { labels: Record<string, string>; removeLabels: string[] } {
  const labels: Record<string, string> = {};
  const removeLabels: string[] = [];
  for (const pair of pairs) {
    const set = /^([^=]+)=(.*)$/.exec(pair);
    const unset = /^([^=]+)-$/.exec(pair);
    if (set) labels[set[1]] = set[2];
    else if (unset) removeLabels.push(unset[1]);
    else throw new CliError(`label ${JSON.stringify(pair)}: want key=value (or key- to remove it)`);
  }
  return { labels, removeLabels };
}

const list: CommandModule<Common, { role?: string }> = {
  command: 'list',
  describe: 'list hosts',
  builder: (y) => y.option('role', { type: 'string', describe: 'only hosts with this role' }) as never,
  handler: async (argv) => {
    const query = argv.role ? `?role=${encodeURIComponent(argv.role)}` : '';
    const body = { items: await UpClient.fromEnvironment().listAll<Host>(`/v1/hosts${query}`) };
    emit(body, () =>
      table(
        body.items.map((h) => ({
          name: h.name,
          address: `${h.address}:${h.port}`,
          roles: h.roles.join(','),
          jump: h.jumpHost,
          maintenance: h.maintenance ? 'on' : '',
          os: h.facts?.os.name,
          probed: when(h.factsAt),
        })),
        ['name', 'address', 'roles', 'jump', 'maintenance', 'os', 'probed'],
      ),
    );
  },
};

export function describeHost(h: Host): string {
  const labels = Object.entries(h.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const capacity = Object.entries(h.capacity)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [
    `host         ${h.name}`,
    `address      ${h.user}@${h.address}:${h.port}${h.jumpHost ? ` (through ${h.jumpHost})` : ''}`,
    `host key     ${h.hostKeySha256}`,
    `roles        ${h.roles.join(', ') || '-'}`,
    `labels       ${labels || '-'}`,
    `capacity     ${capacity || '-'}`,
    `maintenance  ${h.maintenance ? 'on' : 'off'}`,
  ];
  const f = h.facts;
  if (!f) return [...lines, 'facts        (not probed yet: up hosts probe)'].join('\n');
  const mb = (n: number | null) => (n === null ? '?' : `${(n / 1024).toFixed(1)} GiB`);
  lines.push(
    `facts at     ${when(h.factsAt)}`,
    `os           ${f.os.name || f.os.id} (${f.os.arch})`,
    `kernel       ${f.os.kernel}`,
    `uptime       ${f.uptimeSeconds === null ? '?' : `${Math.floor(f.uptimeSeconds / 86400)}d ${Math.floor((f.uptimeSeconds % 86400) / 3600)}h`}`,
    `load         ${f.load.join(' ')} (${f.cpus ?? '?'} cpus)`,
    `memory       ${mb(f.memory.availableMb)} available of ${mb(f.memory.totalMb)}`,
    `disk /       ${mb(f.disk.availableMb)} available of ${mb(f.disk.totalMb)}`,
    'software',
    ...Object.entries(f.software).map(([name, version]) => `  ${name.padEnd(11)}${version ?? '-'}`),
  );
  return lines.join('\n');
}

const show: CommandModule<Common, { name: string }> = {
  command: 'show <name>',
  describe: 'a host with its facts',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Host>('GET', hostPath(argv.name));
    emit(body, () => describeHost(body));
  },
};

/**
 * Roles whose set-up after `prepare` waits for something besides the packages: why it is not
 * done yet, or null (walk friction 4: a `dns` host prepared before its DNS server is added
 * gets bind9 installed and nothing else, and the job alone "succeeds").
 */
const SETUP_WAITS: Record<string, (client: UpClient, host: string) => Promise<string | null>> = {
  dns: async (client, host) => {
    const servers = await client.listAll<{ name: string; primary: string }>('/v1/dns/servers');
    if (servers.some((s) => s.primary === host)) return null;
    return `no DNS server names ${host} as primary, so BIND is not set up: it is once \`up dns servers add <name> --primary ${host} …\` and \`up hosts prepare ${host}\` again`;
  },
};

/** What `prepare` will not set up on this host, and why. Best effort: a lookup that fails says nothing. */
async function setupNotes(client: UpClient, name: string): Promise<string[]> {
  try {
    const { body: host } = await client.request<Host>('GET', hostPath(name));
    const notes = await Promise.all(host.roles.filter((role) => SETUP_WAITS[role]).map((role) => SETUP_WAITS[role]!(client, host.name)));
    return notes.filter((note) => note !== null);
  } catch {
    return [];
  }
}

/** probe, prepare, update: submit the job, then follow it or print it. */
function jobCommand(
  verb: 'probe' | 'prepare' | 'update',
  describe: string,
): CommandModule<Common, Waiting & { name: string; apply?: boolean; refresh?: boolean }> {
  return {
    command: `${verb} <name>`,
    describe,
    builder: (y) => {
      const withWait = waitOptions(y, 1200);
      return (
        verb === 'update'
          ? withWait
              .option('apply', { type: 'boolean', default: false, describe: 'install the pending updates' })
              .option('refresh', { type: 'boolean', default: false, describe: 'apt-get update first' })
          : withWait
      ) as never;
    },
    handler: async (argv) => {
      const client = UpClient.fromEnvironment();
      const body = verb === 'update' ? { apply: argv.apply ?? false, ...(argv.refresh ? { refresh: true } : {}) } : undefined;
      const { body: job } = await client.request<Job>('POST', `${hostPath(argv.name)}/${verb}`, body ? { body } : {});
      const notes = verb === 'prepare' ? await setupNotes(client, argv.name) : [];
      if (argv.wait) return waitAndReport(client, job.id, argv, notes);
      emit(notes.length ? { ...job, notes } : job, () =>
        [`job ${job.id} ${job.status} (up jobs wait ${job.id})`, ...notes.map((note) => `note: ${note}`)].join('\n'),
      );
    },
  };
}

const patch = async (argv: { name: string }, body: unknown) => {
  const { body: host } = await UpClient.fromEnvironment().request<Host>('PATCH', hostPath(argv.name), { body });
  emit(host, () => describeHost(host));
};

const label: CommandModule<Common, { name: string; pairs: string[] }> = {
  command: 'label <name> <pairs..>',
  describe: 'set labels (key=value) or remove them (key-)',
  handler: (argv) => patch(argv, parseLabels(argv.pairs)),
};

const maintenance: CommandModule<Common, { name: string; state: 'on' | 'off' }> = {
  command: 'maintenance <name> <state>',
  describe: 'switch maintenance on (prepare and update are refused) or off',
  builder: (y) => y.positional('state', { choices: ['on', 'off'] as const }) as never,
  handler: (argv) => patch(argv, { maintenance: argv.state === 'on' }),
};

type RepinArgs = { name: string; fingerprint?: string; yes: boolean; timeout: number };

const repin: CommandModule<Common, RepinArgs> = {
  command: 'repin <name>',
  describe: 'pin a new SSH host key (after a reinstall): scan it and confirm, or give the one you checked',
  builder: (y) =>
    yesOption(y, 'trust the scanned fingerprint without asking')
      .option('fingerprint', {
        type: 'string',
        describe: 'the new host key fingerprint (SHA256:...) you checked on the console; skips the scan',
      })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for the key scan' }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body: host } = await client.request<Host>('GET', hostPath(argv.name));
    let fingerprint = argv.fingerprint;
    if (!fingerprint) {
      fingerprint = await scanHostKey(client, {
        address: host.address,
        port: host.port,
        jump: host.jumpHost ?? undefined,
        timeout: argv.timeout,
      });
      process.stderr.write(
        `${host.name} (${host.address}:${host.port}) offers host key ${fingerprint}; pinned now: ${host.hostKeySha256}\n`,
      );
      if (fingerprint === host.hostKeySha256) {
        emit(host, () => `${host.name}: the pinned key is the one it offers; nothing to do`);
        return;
      }
      await trustScannedKey(argv.yes);
    }
    const { body: repinned } = await client.request<Host>('PATCH', hostPath(argv.name), {
      body: { hostKeySha256: fingerprint, rekey: true },
    });
    emit(repinned, () => `${repinned.name}: host key ${repinned.hostKeySha256} pinned (was ${host.hostKeySha256})`);
  },
};

const remove: CommandModule<Common, { name: string; yes: boolean }> = {
  command: 'remove <name>',
  describe: 'remove a host from the inventory (the machine itself is left alone)',
  builder: (y) => yesOption(y) as never,
  handler: async (argv) => {
    await confirm(`remove host ${argv.name} from the inventory?`, { yes: argv.yes });
    await UpClient.fromEnvironment().request('DELETE', hostPath(argv.name));
    emit({ removed: argv.name }, () => `removed ${argv.name}`);
  },
};

export const hosts = group('up hosts', [
  add,
  list,
  show,
  jobCommand('probe', "collect the host's facts (OS, load, memory, disk, software)"),
  jobCommand('prepare', 'install the packages of its roles and the directories up uses'),
  jobCommand('update', 'list pending package updates; with --apply, install them'),
  label,
  maintenance,
  repin,
  remove,
]);
