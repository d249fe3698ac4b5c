import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
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
type Common = Record<string, unknown>;

const list: CommandModule<Common, { all: boolean; limit: number }> = {
  command: 'list',
  describe: 'dead letters, newest first',
  builder: (y) =>
    y
      .option('all', { type: 'boolean', default: false, describe: 'include replayed ones' })
      .option('limit', { type: 'number', default: 100, describe: 'at most this many (up to 500)' }) as never,
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: DeadLetter[] }>(
      'GET',
      `/v1/dlq?all=${argv.all}&limit=${argv.limit}`,
    );
    emit(body, () =>
      table(
        body.items.map((d) => ({ id: d.id, op: d.op, job: d.jobId, dead: when(d.deadAt), replayed: d.replayJobId, reason: d.reason })),
        ['id', 'op', 'job', 'dead', 'replayed', 'reason'],
      ),
    );
  },
};

const replay: CommandModule<Common, { ids: string[]; yes: boolean }> = {
  command: 'replay [ids..]',
  describe: 'run dead letters again as new jobs (all unreplayed ones when no id is given)',
  builder: (y) => yesOption(y, 'replay them all without asking (when no id is given)') as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    let ids = (argv.ids ?? []).map(String);
    if (ids.length === 0) {
      ids = (await client.listAll<DeadLetter>('/v1/dlq')).map((d) => d.id);
      if (ids.length > 0) await confirm(`replay all ${ids.length} dead letters as new jobs?`, { yes: argv.yes });
    }
    const outcomes: { id: string; job?: string; error?: string }[] = [];
    for (const id of ids) {
      try {
        const { body } = await client.request<Job>('POST', `/v1/dlq/${encodeURIComponent(id)}/replay`);
        outcomes.push({ id, job: body.id });
      } catch (error) {
        outcomes.push({ id, error: (error as Error).message });
      }
    }
    emit({ items: outcomes }, () => table(outcomes, ['id', 'job', 'error']));
    const failed = outcomes.filter((o) => o.error).length;
    if (failed > 0) {
      process.stderr.write(`up: ${failed} of ${outcomes.length} dead letters could not be replayed\n`);
      process.exitCode = 1;
    }
  },
};

export const dlq = group('up dlq', [list, replay]);
