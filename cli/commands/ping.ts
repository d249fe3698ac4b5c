import { UpClient } from '../client.ts';
import type { CommandBody } from '../command.ts';
import type { Job } from '../follow.ts';
import { emit } from '../output.ts';
import { waitAndReport, waitOptions } from './jobs.ts';

interface PingArgs {
  wait: boolean;
  timeout: number;
  delayMs?: number;
  fail?: 'transient' | 'permanent';
}

export const ping: CommandBody<PingArgs> = {
  builder: (y) =>
    waitOptions(y)
      .option('delay-ms', { type: 'number', describe: 'the handler waits this long' })
      .option('fail', { choices: ['transient', 'permanent'] as const, describe: 'make the handler fail' }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { ...(argv.delayMs !== undefined ? { delayMs: argv.delayMs } : {}), ...(argv.fail ? { fail: argv.fail } : {}) };
    const { body: job } = await client.request<Job>('POST', '/v1/system/ping', { body });
    if (argv.wait) return waitAndReport(client, job.id, argv);
    emit(job, () => `job ${job.id} ${job.status}`);
  },
};
