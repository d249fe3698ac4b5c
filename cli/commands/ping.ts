import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import type { Job } from '../follow.ts';
import { emit } from '../output.ts';
import { waitAndReport } from './jobs.ts';

interface PingArgs {
  json: boolean;
  wait: boolean;
  timeout: number;
  delayMs?: number;
  fail?: 'transient' | 'permanent';
}

export const ping: CommandModule<{ json: boolean }, PingArgs> = {
  command: 'ping',
  describe: 'send the system.ping canary through the whole pipeline',
  builder: (y) =>
    y
      .option('wait', { type: 'boolean', default: false, describe: 'follow the job to its end' })
      .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait' })
      .option('delay-ms', { type: 'number', describe: 'the handler waits this long' })
      .option('fail', { choices: ['transient', 'permanent'] as const, describe: 'make the handler fail' }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const body = { ...(argv.delayMs !== undefined ? { delayMs: argv.delayMs } : {}), ...(argv.fail ? { fail: argv.fail } : {}) };
    const { body: job } = await client.request<Job>('POST', '/v1/system/ping', { body });
    if (argv.wait) return waitAndReport(client, job.id, argv);
    emit(argv.json, job, () => `job ${job.id} ${job.status}`);
  },
};
