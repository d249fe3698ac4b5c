import { UpClient } from '../client.ts';
import type { CommandBody } from '../command.ts';
import { emit, table } from '../output.ts';

interface QueueStats {
  queue: string;
  ready: number;
  unacked: number | null;
  consumers: number;
}

export const queues: CommandBody = {
  handler: async () => {
    const body = { items: await UpClient.fromEnvironment().listAll<QueueStats>('/v1/queues') };
    emit(body, () => table(body.items as never, ['queue', 'ready', 'unacked', 'consumers']));
  },
};
