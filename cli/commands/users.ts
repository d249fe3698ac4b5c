import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import type { Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';

interface Common {
  json: boolean;
}

interface UserView {
  id: string;
  name: string;
  role: string;
  status: string;
  limits: Record<string, number>;
  subids: { start: number; count: number } | null;
  hosts?: string[];
  createdAt: string;
  suspendedAt: string | null;
}

const LIMIT_OPTIONS = ['websites', 'databases', 'mailboxes', 'dns-zones', 'disk-gb', 'containers', 'vms'] as const;
const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** --websites 5 --disk-gb 20 → { websites: 5, diskGb: 20 } */
function limitsFrom(argv: Record<string, unknown>): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const option of LIMIT_OPTIONS) {
    const value = argv[camel(option)];
    if (typeof value === 'number') limits[camel(option)] = value;
  }
  return limits;
}

const withLimitOptions = <Y extends { option(name: string, o: object): Y }>(y: Y): Y => {
  for (const option of LIMIT_OPTIONS) y = y.option(option, { type: 'number', describe: `plan limit: ${option}` });
  return y;
};

function describeUser(u: UserView): string {
  return [
    `user     ${u.name} (${u.role}, ${u.status})`,
    `id       ${u.id}`,
    `created  ${when(u.createdAt)}`,
    `limits   ${Object.entries(u.limits).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `subids   ${u.subids ? `${u.subids.start}+${u.subids.count}` : '-'}`,
    ...(u.hosts ? [`hosts    ${u.hosts.join(', ') || '-'}`] : []),
  ].join('\n');
}

const create: CommandModule<Common, Common & { name: string; admin: boolean }> = {
  command: 'create <name>',
  describe: 'create a user (admin)',
  builder: (y) => withLimitOptions(y.option('admin', { type: 'boolean', default: false, describe: 'an administrator, not a tenant' }) as never) as never,
  handler: async (argv) => {
    const limits = limitsFrom(argv as never);
    const body = { name: argv.name, role: argv.admin ? 'admin' : 'user', ...(Object.keys(limits).length ? { limits } : {}) };
    const { body: user } = await UpClient.fromEnvironment().request<UserView>('POST', '/v1/users', { body });
    emit(argv.json, user, () => describeUser(user));
  },
};

const list: CommandModule<Common, Common & { all: boolean }> = {
  command: 'list',
  describe: 'list users (admin)',
  builder: (y) => y.option('all', { type: 'boolean', default: false, describe: 'include deleted users' }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: UserView[] }>('GET', `/v1/users?all=${argv.all}`);
    emit(argv.json, body, () => table(body.items.map((u) => ({ ...u, created: when(u.createdAt) })), ['name', 'role', 'status', 'created', 'id']));
  },
};

const show: CommandModule<Common, Common & { name: string }> = {
  command: 'show <name>',
  describe: 'a user with limits and hosts (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<UserView>('GET', `/v1/users/${encodeURIComponent(argv.name)}`);
    emit(argv.json, body, () => describeUser(body));
  },
};

const limits: CommandModule<Common, Common & { name: string }> = {
  command: 'limits <name>',
  describe: "set a user's plan limits (admin)",
  builder: (y) => withLimitOptions(y as never) as never,
  handler: async (argv) => {
    const body = { limits: limitsFrom(argv as never) };
    const { body: user } = await UpClient.fromEnvironment().request<UserView>('PATCH', `/v1/users/${encodeURIComponent(argv.name)}`, { body });
    emit(argv.json, user, () => describeUser(user));
  },
};

const state = (verb: 'suspend' | 'unsuspend'): CommandModule<Common, Common & { name: string }> => ({
  command: `${verb} <name>`,
  describe: verb === 'suspend' ? 'suspend a user: their tokens stop at once (admin)' : 'let a suspended user in again (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<UserView>('POST', `/v1/users/${encodeURIComponent(argv.name)}/${verb}`);
    emit(argv.json, body, () => `${body.name} is ${body.status}`);
  },
});

const remove: CommandModule<Common, Common & { name: string; force: boolean }> = {
  command: 'delete <name>',
  describe: 'delete a user; refused while they own resources unless --force (admin)',
  builder: (y) => y.option('force', { type: 'boolean', default: false, describe: 'schedule the removal of everything they own' }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ user: UserView; jobs: Job[] }>('DELETE', `/v1/users/${encodeURIComponent(argv.name)}?force=${argv.force}`);
    emit(argv.json, body, () => [`${body.user.name} is ${body.user.status}`, ...body.jobs.map((j) => `  job ${j.id} ${j.op} ${j.status}`)].join('\n'));
  },
};

export const users: CommandModule<Common, Common> = {
  command: 'users <command>',
  describe: 'manage users, their plans and their state (admin)',
  builder: (y) => y.command([create, list, show, limits, state('suspend'), state('unsuspend'), remove] as never).demandCommand(1),
  handler: () => {
    throw new CliError('choose a users command');
  },
};
