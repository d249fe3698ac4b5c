import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { emit, table } from '../output.ts';

interface QueueStats {
  queue: string;
  ready: number;
  unacked: number | null;
  consumers: number;
}

export const queues: CommandModule<{ json: boolean }, { json: boolean }> = {
  command: 'queues',
  describe: 'per operation queue: ready, unacked and consumers, read from the broker',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<{ items: QueueStats[] }>('GET', '/v1/queues');
    emit(argv.json, body, () => table(body.items as never, ['queue', 'ready', 'unacked', 'consumers']));
  },
};
