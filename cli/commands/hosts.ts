import { createInterface } from 'node:readline/promises';
import type { Argv, CommandModule } from 'yargs';
import type { hostView } from '../../gateway/hosts-view.ts';
import { CliError, UpClient } from '../client.ts';
import { describeJob, exitCodeOf, followJob, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitAndReport } from './jobs.ts';

type Host = ReturnType<typeof hostView>;
interface Common {
  json: boolean;
}
interface Waiting extends Common {
  wait: boolean;
  timeout: number;
}

const hostPath = (name: string) => `/v1/hosts/${encodeURIComponent(name)}`;
const waitOptions = <T>(y: Argv<T>) =>
  y
    .option('wait', { type: 'boolean', default: false, describe: 'follow the job to its end' })
    .option('timeout', { type: 'number', default: 1200, describe: 'seconds to wait' });

/** Asks on the terminal; a non-interactive caller must have said yes up front. */
async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new CliError('stdin is not a terminal: check the fingerprint yourself and pass --yes (or --fingerprint)');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(question).finally(() => rl.close());
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('host key not trusted; nothing added');
}

/** Runs the keyscan job and returns the fingerprint the host offered. */
async function scanHostKey(client: UpClient, argv: { address: string; port: number; jump?: string; timeout: number }): Promise<string> {
  const body = { address: argv.address, port: argv.port, ...(argv.jump ? { jumpHost: argv.jump } : {}) };
  const { body: job } = await client.request<Job>('POST', '/v1/hosts/keyscans', { body });
  const done = await followJob(client, job.id, { timeoutMs: argv.timeout * 1000 });
  if (exitCodeOf(done) !== 0) throw new CliError(`could not fetch the host key of ${argv.address}:${argv.port}:\n${describeJob(done)}`);
  return (done.result as { hostKeySha256: string }).hostKeySha256;
}

type AddArgs = Common & { name: string; address: string; port: number; user: string; role?: string[]; jump?: string; fingerprint?: string; label?: string[]; yes: boolean; timeout: number };

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
      .option('yes', { type: 'boolean', default: false, describe: 'trust the scanned fingerprint without asking' })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for the key scan' }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let fingerprint = argv.fingerprint;
    if (!fingerprint) {
      fingerprint = await scanHostKey(client, argv);
      process.stderr.write(`${argv.address}:${argv.port} offers host key ${fingerprint}\n`);
      await confirm('trust this host key? [y/N] ', argv.yes);
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
    emit(argv.json, host, () => `added ${host.name} (${host.address}:${host.port}), host key ${host.hostKeySha256}`);
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

const list: CommandModule<Common, Common & { role?: string }> = {
  command: 'list',
  describe: 'list hosts',
  builder: (y) => y.option('role', { type: 'string', describe: 'only hosts with this role' }) as never,
  handler: async (argv) => {
    const query = argv.role ? `?role=${encodeURIComponent(argv.role)}` : '';
    const { body } = await UpClient.fromEnvironment().request<{ items: Host[] }>('GET', `/v1/hosts${query}`);
    emit(argv.json, body, () =>
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
  const labels = Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(' ');
  const capacity = Object.entries(h.capacity).map(([k, v]) => `${k}=${v}`).join(' ');
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

const show: CommandModule<Common, Common & { name: string }> = {
  command: 'show <name>',
  describe: 'a host with its facts',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Host>('GET', hostPath(argv.name));
    emit(argv.json, body, () => describeHost(body));
  },
};

/** probe, prepare, update: submit the job, then follow it or print it. */
function jobCommand(verb: 'probe' | 'prepare' | 'update', describe: string): CommandModule<Common, Waiting & { name: string; apply?: boolean; refresh?: boolean }> {
  return {
    command: `${verb} <name>`,
    describe,
    builder: (y) => {
      const withWait = waitOptions(y);
      return (verb === 'update'
        ? withWait
            .option('apply', { type: 'boolean', default: false, describe: 'install the pending updates' })
            .option('refresh', { type: 'boolean', default: false, describe: 'apt-get update first' })
        : withWait) as never;
    },
    handler: async (argv) => {
      const client = UpClient.fromEnvironment();
      const body = verb === 'update' ? { apply: argv.apply ?? false, ...(argv.refresh ? { refresh: true } : {}) } : undefined;
      const { body: job } = await client.request<Job>('POST', `${hostPath(argv.name)}/${verb}`, body ? { body } : {});
      if (argv.wait) return waitAndReport(client, job.id, argv);
      emit(argv.json, job, () => `job ${job.id} ${job.status} (up jobs wait ${job.id})`);
    },
  };
}

const patch = async (argv: Common & { name: string }, body: unknown) => {
  const { body: host } = await UpClient.fromEnvironment().request<Host>('PATCH', hostPath(argv.name), { body });
  emit(argv.json, host, () => describeHost(host));
};

const label: CommandModule<Common, Common & { name: string; pairs: string[] }> = {
  command: 'label <name> <pairs..>',
  describe: 'set labels (key=value) or remove them (key-)',
  handler: (argv) => patch(argv, parseLabels(argv.pairs)),
};

const maintenance: CommandModule<Common, Common & { name: string; state: 'on' | 'off' }> = {
  command: 'maintenance <name> <state>',
  describe: 'switch maintenance on (prepare and update are refused) or off',
  builder: (y) => y.positional('state', { choices: ['on', 'off'] as const }) as never,
  handler: (argv) => patch(argv, { maintenance: argv.state === 'on' }),
};

const remove: CommandModule<Common, Common & { name: string }> = {
  command: 'remove <name>',
  describe: 'remove a host from the inventory (the machine itself is left alone)',
  handler: async (argv) => {
    await UpClient.fromEnvironment().request('DELETE', hostPath(argv.name));
    emit(argv.json, { removed: argv.name }, () => `removed ${argv.name}`);
  },
};

export const hosts: CommandModule<Common, Common> = {
  command: 'hosts <command>',
  describe: 'the machines up manages: add, list, show, probe, prepare, update, label, maintenance, remove',
  builder: (y) =>
    y
      .command([
        add,
        list,
        show,
        jobCommand('probe', 'collect the host\'s facts (OS, load, memory, disk, software)'),
        jobCommand('prepare', 'install the packages of its roles and the directories up uses'),
        jobCommand('update', 'list pending package updates; with --apply, install them'),
        label,
        maintenance,
        remove,
      ] as never)
      .demandCommand(1),
  handler: () => {
    throw new CliError('choose a hosts command');
  },
};
