import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { exitCodeOf, followJob, reportFanOut, type Job } from '../follow.ts';
import { emit, machineReadable, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';
import { describeUses, SECRET_OPTION, secretUsesOf } from './secrets.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Container = Record<string, any> & { name: string; host: string; generation: number };
type Change = { container: Container; jobs: Job[] };

const url = (argv: Record<string, any>, tail = '') =>
  `/v1/containers/${encodeURIComponent(argv.name)}${tail}${argv.owner ? `?owner=${encodeURIComponent(argv.owner)}` : ''}`;
const ownerOption = (y: any) =>
  y.option('owner', { type: 'string', describe: "admins: the container's owner, when several users have one of this name" });

/** `--env KEY=VALUE` (repeatable). */
function envOf(specs: string[] | undefined): Record<string, string> | undefined {
  if (!specs) return undefined;
  return Object.fromEntries(
    specs.map((spec) => {
      const cut = spec.indexOf('=');
      if (cut < 1) throw new CliError(`--env wants KEY=VALUE, got ${spec}`);
      return [spec.slice(0, cut), spec.slice(cut + 1)];
    }),
  );
}

/** `--volume NAME:/path[:ro]` (repeatable). */
function volumesOf(specs: string[] | undefined) {
  return specs?.map((spec) => {
    const match = /^([^:]+):([^:]+)(:ro)?$/.exec(spec);
    if (!match) throw new CliError(`--volume wants NAME:/PATH[:ro], got ${spec}`);
    return { name: match[1], target: match[2], readOnly: Boolean(match[3]) };
  });
}

/** The container's process: the words after `--` (or positionals after the image, when they hold no option). */
const commandOf = (argv: Record<string, any>): string[] => [...(argv.command ?? []), ...(argv['--'] ?? [])].map(String);

function fieldsOf(argv: Record<string, any>) {
  const limits = {
    ...(argv.memory !== undefined ? { memoryMb: argv.memory } : {}),
    ...(argv.cpus !== undefined ? { cpus: argv.cpus } : {}),
    ...(argv.pids !== undefined ? { pids: argv.pids } : {}),
  };
  return {
    ...(argv.image ? { image: argv.image } : {}),
    ...(commandOf(argv).length ? { command: commandOf(argv) } : {}),
    ...(argv.env ? { env: envOf(argv.env) } : {}),
    ...(argv.port ? { ports: (argv.port as number[]).map((container) => ({ container })) } : {}),
    ...(argv.volume ? { volumes: volumesOf(argv.volume) } : {}),
    ...(argv.secret ? { secrets: secretUsesOf(argv.secret) } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(argv.restart ? { restart: argv.restart } : {}),
    ...(argv.healthCmd ? { healthcheck: { command: ['sh', '-c', argv.healthCmd], intervalSeconds: 30, retries: 3 } } : {}),
  };
}

const specOptions = (y: any) =>
  waitOptions(y)
    .option('env', { type: 'string', array: true, describe: 'KEY=VALUE (repeatable)' })
    .option('port', { type: 'number', array: true, describe: 'a port the service listens on; published on an allocated host port' })
    .option('volume', { type: 'string', array: true, describe: 'NAME:/PATH[:ro]: one of your named volumes' })
    .option('secret', SECRET_OPTION)
    .option('memory', { type: 'number', describe: 'memory limit, MiB' })
    .option('cpus', { type: 'number', describe: 'CPU limit, in CPUs (0.5: half of one)' })
    .option('pids', { type: 'number', describe: 'process limit' })
    .option('restart', { choices: ['no', 'on-failure', 'always'], describe: 'restart policy' })
    .option('health-cmd', { type: 'string', describe: 'a shell command inside the container: exit 0 means healthy' });

const ports = (c: Container) =>
  (c.ports as { container: number; host: number; address: string }[]).map((p) => `${p.address}:${p.host}→${p.container}`).join(' ');

const report = (client: UpClient, change: Change, argv: { wait: boolean; timeout: number }) =>
  reportFanOut(
    client,
    change,
    argv,
    `${change.container.name} on ${change.container.host} (generation ${change.container.generation}) ${ports(change.container)}`,
  );

const create: CommandModule<Common, Args> = {
  command: 'create <name> <image> [command..]',
  describe:
    "run a container in your own id range and network; --port publishes a port; after `--`, the process and its arguments (default: the image's)",
  builder: (y) =>
    specOptions(y)
      .option('host', { type: 'string', describe: 'admins: the host to place it on (default: the least loaded one)' })
      .option('stopped', { type: 'boolean', describe: 'create it without starting it' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = {
      name: argv.name,
      ...fieldsOf(argv),
      image: argv.image,
      ...(argv.host ? { host: argv.host } : {}),
      ...(argv.stopped ? { running: false } : {}),
    };
    const { body: change } = await client.request<Change>('POST', '/v1/containers', { body });
    await report(client, change, argv);
  },
};

const edit: CommandModule<Common, Args> = {
  command: 'edit <name> [command..]',
  describe: 'change a container (the options given, and a command after `--`, replace the stored ones); it is recreated from the new spec',
  builder: (y) => ownerOption(specOptions(y).option('image', { type: 'string', describe: 'a new image' })),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const fields = fieldsOf(argv);
    if (Object.keys(fields).length === 0) throw new CliError('nothing to change: give at least one option');
    const { body } = await client.request<Change>('PATCH', url(argv), { body: fields });
    await report(client, body, argv);
  },
};

const power = (verb: 'start' | 'stop' | 'restart', describe: string): CommandModule<Common, Args> => ({
  command: `${verb} <name>`,
  describe,
  builder: (y) => ownerOption(waitOptions(y)),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('POST', url(argv, `/${verb}`));
    await report(client, body, argv);
  },
});

const remove: CommandModule<Common, Args> = {
  command: 'delete <name>',
  describe: 'remove a container (its named volumes stay)',
  builder: (y) =>
    yesOption(
      ownerOption(
        waitOptions(y).option('force', {
          type: 'boolean',
          describe: 'delete even when your websites route to it (they answer 502 until it is back)',
        }),
      ),
    ),
  handler: async (argv) => {
    await confirm(`delete container ${argv.name}?`, { yes: argv.yes });
    const client = UpClient.fromEnvironment();
    const path = url(argv);
    const { body: job } = await client.request<Job>('DELETE', argv.force ? `${path}${path.includes('?') ? '&' : '?'}force=true` : path);
    await reportFanOut(client, { jobs: [job] }, argv, `${argv.name}: deleting`);
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your containers, with status, host, ports and memory',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<Container>('/v1/containers');
    emit(body, () =>
      table(
        body.map((c) => ({
          name: c.name,
          status: c.status ?? (c.error ? 'error' : 'pending'),
          host: c.host,
          ports: ports(c),
          memory: `${c.limits.memoryMb}M`,
          image: c.image,
        })),
        ['name', 'status', 'host', 'ports', 'memory', 'image'],
      ),
    );
  },
};

export function describeContainer(c: Container): string {
  return [
    `container   ${c.name} (owner ${c.owner})`,
    `host        ${c.host}`,
    `image       ${c.image}`,
    `command     ${(c.command as string[]).join(' ') || "(the image's)"}`,
    `status      ${c.status ?? 'pending'}${c.running ? '' : ' (kept stopped)'}${c.error ? ` — ${c.error}` : ''}`,
    `ports       ${ports(c) || '-'}`,
    `volumes     ${(c.volumes as { name: string; target: string; readOnly: boolean }[]).map((v) => `${v.name}:${v.target}${v.readOnly ? ':ro' : ''}`).join(' ') || '-'}`,
    `limits      ${c.limits.memoryMb} MiB, ${c.limits.cpus} CPU, ${c.limits.pids} processes`,
    `restart     ${c.restart}`,
    `env         ${Object.keys(c.env).join(' ') || '-'}`,
    `secrets     ${describeUses(c.secrets ?? [])}`,
    `generation  ${c.generation} (applied: ${c.appliedGeneration ?? '-'})`,
    `updated     ${when(c.updatedAt)}`,
  ].join('\n');
}

const show: CommandModule<Common, Args> = {
  command: 'show <name>',
  describe: 'one container: spec, host, ports and state',
  builder: ownerOption,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Container>('GET', url(argv));
    emit(body, () => describeContainer(body));
  },
};

type LogResult = { lines: { at: string; text: string }[]; until: string };

const logs: CommandModule<Common, Args> = {
  command: 'logs <name>',
  describe: "a container's last log lines; -f keeps reading new ones",
  builder: (y) =>
    ownerOption(y)
      .option('tail', { type: 'number', default: 100, describe: 'how many of the last lines' })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep reading new lines (Ctrl-C stops)' }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let since: string | undefined;
    let seen = new Set<string>();
    for (;;) {
      const { body: job } = await client.request<Job>('POST', url(argv, '/logs'), {
        body: { tail: argv.tail, ...(since ? { since } : {}) },
      });
      const done = await followJob(client, job.id, { timeoutMs: 60_000 });
      if (done.status !== 'succeeded') {
        process.exitCode = exitCodeOf(done);
        throw new CliError(`reading the logs failed: ${done.error?.message ?? done.status}`);
      }
      const result = done.result as LogResult;
      // `since` is inclusive: the lines at the boundary come again and are skipped.
      const fresh = result.lines.filter((l) => !seen.has(`${l.at} ${l.text}`));
      seen = new Set(result.lines.map((l) => `${l.at} ${l.text}`));
      if (machineReadable()) for (const line of fresh) process.stdout.write(`${JSON.stringify(line)}\n`);
      else for (const line of fresh) process.stdout.write(`${line.text}\n`);
      if (!argv.follow) return;
      since = result.until;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  },
};

export const containers = group('up containers', [
  create,
  edit,
  list,
  show,
  logs,
  power('start', 'start a stopped container'),
  power('stop', 'stop a container; it stays stopped until started'),
  power('restart', 'restart a container'),
  remove,
]);
