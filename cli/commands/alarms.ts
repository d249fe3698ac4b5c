import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { emit, table, when } from '../output.ts';

interface Alarm {
  id: string;
  resource: { type: string; key: string };
  cause: string;
  message: string;
  status: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  ackedBy: string | null;
}
interface Common {
  json: boolean;
}

const list: CommandModule<Common, Common & { status: string }> = {
  command: 'list',
  describe: 'alarms (open ones by default)',
  builder: (y) => y.option('status', { choices: ['open', 'cleared', 'all'], default: 'open' }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: Alarm[] }>('GET', `/v1/alarms?status=${argv.status}`);
    emit(argv.json, body, () =>
      table(
        body.items.map((a) => ({ id: a.id, resource: `${a.resource.type}/${a.resource.key}`, cause: a.cause, status: a.status, count: a.count, since: when(a.firstSeen), acked: a.ackedBy, message: a.message })),
        ['id', 'resource', 'cause', 'status', 'count', 'since', 'acked', 'message'],
      ),
    );
  },
};

const ack: CommandModule<Common, Common & { id: string }> = {
  command: 'ack <id>',
  describe: 'acknowledge an alarm (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Alarm>('POST', `/v1/alarms/${encodeURIComponent(argv.id)}/ack`);
    emit(argv.json, body, () => `acknowledged ${body.id} (${body.resource.type}/${body.resource.key}: ${body.cause})`);
  },
};

export const alarms: CommandModule<Common, Common> = {
  command: 'alarms <command>',
  describe: 'alarms raised by the health daemon: list and acknowledge',
  builder: (y) => y.command([list, ack] as never).demandCommand(1),
  handler: () => {
    throw new CliError('choose an alarms command');
  },
};

interface HealthEntry {
  resource: { type: string; key: string };
  state: string;
  failures: number;
  since: string;
  checkedAt: string;
  problems: { cause: string; message: string }[];
  history?: { state: string; at: string; note: string | null }[];
}

export const health: CommandModule<Common, Common & { type?: string; history?: boolean }> = {
  command: 'health',
  describe: 'the health of every checked resource',
  builder: (y) =>
    y
      .option('type', { type: 'string', describe: 'only this resource type (host, security, proxy, website, dns-zone, pipeline)' })
      .option('history', { type: 'boolean', default: false, describe: 'with each resource\'s recent transitions (degraded → repairing → …)' }) as never,
  handler: async (argv) => {
    const params = new URLSearchParams();
    if (argv.type) params.set('type', argv.type);
    if (argv.history) params.set('history', 'true');
    const query = params.size ? `?${params}` : '';
    const { body } = await UpClient.fromEnvironment().request<{ items: HealthEntry[] }>('GET', `/v1/health${query}`);
    const columns = ['resource', 'state', 'since', 'checked', ...(argv.history ? ['history'] : []), 'problems'];
    emit(argv.json, body, () =>
      table(
        body.items.map((h) => ({
          resource: `${h.resource.type}/${h.resource.key}`,
          state: h.state,
          since: when(h.since),
          checked: when(h.checkedAt),
          history: (h.history ?? []).map((e) => e.state).reverse().join(' → '),
          problems: h.problems.map((p) => p.message).join('; '),
        })),
        columns,
      ),
    );
  },
};
