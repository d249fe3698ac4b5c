import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import type { Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';

type Common = Record<string, unknown>;

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

const LIMIT_OPTIONS = [
  'websites',
  'databases',
  'mailboxes',
  'dns-zones',
  'disk-gb',
  'containers',
  'container-memory-mb',
  'container-cpus',
  'vms',
] as const;
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
    `limits   ${Object.entries(u.limits)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `subids   ${u.subids ? `${u.subids.start}+${u.subids.count}` : '-'}`,
    ...(u.hosts ? [`hosts    ${u.hosts.join(', ') || '-'}`] : []),
  ].join('\n');
}

const create: CommandModule<Common, { name: string; admin: boolean }> = {
  command: 'create <name>',
  describe: 'create a user (admin)',
  builder: (y) =>
    withLimitOptions(y.option('admin', { type: 'boolean', default: false, describe: 'an administrator, not a tenant' }) as never) as never,
  handler: async (argv) => {
    const limits = limitsFrom(argv as never);
    const body = { name: argv.name, role: argv.admin ? 'admin' : 'user', ...(Object.keys(limits).length ? { limits } : {}) };
    const { body: user } = await UpClient.fromEnvironment().request<UserView>('POST', '/v1/users', { body });
    emit(user, () => describeUser(user));
  },
};

const list: CommandModule<Common, { all: boolean }> = {
  command: 'list',
  describe: 'list users (admin)',
  builder: (y) => y.option('all', { type: 'boolean', default: false, describe: 'include deleted users' }) as never,
  handler: async (argv) => {
    const body = { items: await UpClient.fromEnvironment().listAll<UserView>(`/v1/users?all=${argv.all}`) };
    emit(body, () =>
      table(
        body.items.map((u) => ({ ...u, created: when(u.createdAt) })),
        ['name', 'role', 'status', 'created', 'id'],
      ),
    );
  },
};

const show: CommandModule<Common, { name: string }> = {
  command: 'show <name>',
  describe: 'a user with limits and hosts (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<UserView>('GET', `/v1/users/${encodeURIComponent(argv.name)}`);
    emit(body, () => describeUser(body));
  },
};

const limits: CommandModule<Common, { name: string }> = {
  command: 'limits <name>',
  describe: "set a user's plan limits (admin)",
  builder: (y) => withLimitOptions(y as never) as never,
  handler: async (argv) => {
    const body = { limits: limitsFrom(argv as never) };
    const { body: user } = await UpClient.fromEnvironment().request<UserView>('PATCH', `/v1/users/${encodeURIComponent(argv.name)}`, {
      body,
    });
    emit(user, () => describeUser(user));
  },
};

const state = (verb: 'suspend' | 'unsuspend'): CommandModule<Common, { name: string }> => ({
  command: `${verb} <name>`,
  describe: verb === 'suspend' ? 'suspend a user: their tokens stop at once (admin)' : 'let a suspended user in again (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<UserView>('POST', `/v1/users/${encodeURIComponent(argv.name)}/${verb}`);
    emit(body, () => `${body.name} is ${body.status}`);
  },
});

const remove: CommandModule<Common, { name: string; force: boolean; yes: boolean }> = {
  command: 'delete <name>',
  describe: 'delete a user; refused while they own resources unless --force (admin)',
  builder: (y) =>
    yesOption(y.option('force', { type: 'boolean', default: false, describe: 'schedule the removal of everything they own' })) as never,
  handler: async (argv) => {
    await confirm(`delete user ${argv.name}${argv.force ? ' and everything they own' : ''}? Their tokens stop working`, { yes: argv.yes });
    const { body } = await UpClient.fromEnvironment().request<{ user: UserView; jobs: Job[] }>(
      'DELETE',
      `/v1/users/${encodeURIComponent(argv.name)}?force=${argv.force}`,
    );
    emit(body, () => [`${body.user.name} is ${body.user.status}`, ...body.jobs.map((j) => `  job ${j.id} ${j.op} ${j.status}`)].join('\n'));
  },
};

export const users = group('up users', [create, list, show, limits, state('suspend'), state('unsuspend'), remove]);
