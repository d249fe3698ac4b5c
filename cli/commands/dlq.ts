import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import type { Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';

interface DeadLetter {
  id: string;
  jobId: string | null;
  op: string | null;
  reason: string;
  deadAt: string;
  replayedAt: string | null;
  replayJobId: string | null;
}
interface Common {
  json: boolean;
}

const list: CommandModule<Common, Common & { all: boolean; limit: number }> = {
  command: 'list',
  describe: 'dead letters, newest first',
  builder: (y) => y.option('all', { type: 'boolean', default: false, describe: 'include replayed ones' }).option('limit', { type: 'number', default: 100 }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: DeadLetter[] }>('GET', `/v1/dlq?all=${argv.all}&limit=${argv.limit}`);
    emit(argv.json, body, () =>
      table(
        body.items.map((d) => ({ id: d.id, op: d.op, job: d.jobId, dead: when(d.deadAt), replayed: d.replayJobId, reason: d.reason })),
        ['id', 'op', 'job', 'dead', 'replayed', 'reason'],
      ),
    );
  },
};

const replay: CommandModule<Common, Common & { ids: string[] }> = {
  command: 'replay [ids..]',
  describe: 'run dead letters again as new jobs (all unreplayed ones when no id is given)',
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let ids = argv.ids ?? [];
    if (ids.length === 0) ids = (await client.request<{ items: DeadLetter[] }>('GET', '/v1/dlq?limit=500')).body.items.map((d) => d.id);
    const outcomes: { id: string; job?: string; error?: string }[] = [];
    for (const id of ids) {
      try {
        const { body } = await client.request<Job>('POST', `/v1/dlq/${encodeURIComponent(id)}/replay`);
        outcomes.push({ id, job: body.id });
      } catch (error) {
        outcomes.push({ id, error: (error as Error).message });
      }
    }
    emit(argv.json, { items: outcomes }, () => table(outcomes, ['id', 'job', 'error']));
    if (outcomes.some((o) => o.error)) process.exitCode = 1;
  },
};

export const dlq: CommandModule<Common, Common> = {
  command: 'dlq <command>',
  describe: 'dead letters: list and replay',
  builder: (y) => y.command([list, replay] as never).demandCommand(1),
  handler: () => {
    throw new CliError('choose a dlq command');
  },
};
