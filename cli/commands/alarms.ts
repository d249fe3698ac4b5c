import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group, type CommandBody } from '../command.ts';
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
type Common = Record<string, unknown>;

const list: CommandModule<Common, { status: string; limit: number }> = {
  command: 'list',
  describe: 'alarms (open ones by default)',
  builder: (y) =>
    y
      .option('status', { choices: ['open', 'cleared', 'all'], default: 'open', describe: 'which alarms' })
      .option('limit', { type: 'number', default: 100, describe: 'at most this many (up to 500)' }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: Alarm[] }>(
      'GET',
      `/v1/alarms?${new URLSearchParams({ status: argv.status, limit: String(argv.limit) })}`,
    );
    emit(body, () =>
      table(
        body.items.map((a) => ({
          id: a.id,
          resource: `${a.resource.type}/${a.resource.key}`,
          cause: a.cause,
          status: a.status,
          count: a.count,
          since: when(a.firstSeen),
          acked: a.ackedBy,
          message: a.message,
        })),
        ['id', 'resource', 'cause', 'status', 'count', 'since', 'acked', 'message'],
      ),
    );
  },
};

const ack: CommandModule<Common, { id: string }> = {
  command: 'ack <id>',
  describe: 'acknowledge an alarm (admin)',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Alarm>('POST', `/v1/alarms/${encodeURIComponent(argv.id)}/ack`);
    emit(body, () => `acknowledged ${body.id} (${body.resource.type}/${body.resource.key}: ${body.cause})`);
  },
};

export const alarms = group('up alarms', [list, ack]);

interface HealthEntry {
  resource: { type: string; key: string };
  state: string;
  failures: number;
  since: string;
  checkedAt: string;
  problems: { cause: string; message: string }[];
  history?: { state: string; at: string; note: string | null }[];
}

export const health: CommandBody<{ type?: string; history?: boolean }> = {
  builder: (y) =>
    y
      .option('type', { type: 'string', describe: 'only this resource type (host, security, proxy, website, dns-zone, pipeline)' })
      .option('history', {
        type: 'boolean',
        default: false,
        describe: "with each resource's recent transitions (degraded → repairing → …)",
      }) as never,
  handler: async (argv) => {
    const params = new URLSearchParams();
    if (argv.type) params.set('type', argv.type);
    if (argv.history) params.set('history', 'true');
    const query = params.size ? `?${params}` : '';
    const body = { items: await UpClient.fromEnvironment().listAll<HealthEntry>(`/v1/health${query}`) };
    const columns = ['resource', 'state', 'since', 'checked', ...(argv.history ? ['history'] : []), 'problems'];
    emit(body, () =>
      table(
        body.items.map((h) => ({
          resource: `${h.resource.type}/${h.resource.key}`,
          state: h.state,
          since: when(h.since),
          checked: when(h.checkedAt),
          history: (h.history ?? [])
            .map((e) => e.state)
            .reverse()
            .join(' → '),
          problems: h.problems.map((p) => p.message).join('; '),
        })),
        columns,
      ),
    );
  },
};
