import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { describeJob, exitCodeOf, followJob, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';

interface Common {
  json: boolean;
}

/** Prints a job's progress while following it, then its final state; sets the exit code. */
export async function waitAndReport(client: UpClient, id: string, argv: Common & { timeout?: number }): Promise<void> {
  const job = await followJob(client, id, {
    timeoutMs: (argv.timeout ?? 120) * 1000,
    onEvent: argv.json ? undefined : (_job, e) => process.stderr.write(`  #${e.attempt} ${e.status}${e.message ? `: ${e.message}` : ''}\n`),
  });
  emit(argv.json, job, () => describeJob(job));
  process.exitCode = exitCodeOf(job);
}

const list: CommandModule<Common, Common & { status?: string; op?: string; limit: number; before?: string }> = {
  command: 'list',
  describe: 'list jobs, newest first',
  builder: (y) =>
    y
      .option('status', { type: 'string', describe: 'only jobs in this status' })
      .option('op', { type: 'string', describe: 'only this operation' })
      .option('limit', { type: 'number', default: 50 })
      .option('before', { type: 'string', describe: 'page cursor (the `next` of the previous page)' }) as never,
  handler: async (argv) => {
    const query = new URLSearchParams({ limit: String(argv.limit) });
    if (argv.status) query.set('status', argv.status);
    if (argv.op) query.set('op', argv.op);
    if (argv.before) query.set('before', argv.before);
    const { body } = await UpClient.fromEnvironment().request<{ items: Job[]; next: string | null }>('GET', `/v1/jobs?${query}`);
    emit(argv.json, body, () => {
      const rows = body.items.map((j) => ({ id: j.id, op: j.op, status: j.status, attempt: j.attempt, created: when(j.createdAt), error: j.error?.message }));
      return table(rows, ['id', 'op', 'status', 'attempt', 'created', 'error']) + (body.next ? `\n(more: --before ${body.next})` : '');
    });
  },
};

const show: CommandModule<Common, Common & { id: string }> = {
  command: 'show <id>',
  describe: 'a job with its events',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Job>('GET', `/v1/jobs/${encodeURIComponent(argv.id)}`);
    emit(argv.json, body, () => describeJob(body));
  },
};

const wait: CommandModule<Common, Common & { id: string; timeout: number }> = {
  command: 'wait <id>',
  describe: 'follow a job to its end; exit 0 when it succeeded, 1 when it did not, 2 on timeout',
  builder: (y) => y.option('timeout', { type: 'number', default: 120, describe: 'seconds' }) as never,
  handler: (argv) => waitAndReport(UpClient.fromEnvironment(), argv.id, argv),
};

const retry: CommandModule<Common, Common & { id: string; wait: boolean; timeout: number }> = {
  command: 'retry <id>',
  describe: 'run a failed or dead job again (as a new job)',
  builder: (y) => y.option('wait', { type: 'boolean', default: false }).option('timeout', { type: 'number', default: 120 }) as never,
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Job>('POST', `/v1/jobs/${encodeURIComponent(argv.id)}/retry`);
    if (argv.wait) return waitAndReport(client, body.id, argv);
    emit(argv.json, body, () => `retrying as job ${body.id} (${body.status})`);
  },
};

export const jobs: CommandModule<Common, Common> = {
  command: 'jobs <command>',
  describe: 'list, show, follow and retry jobs',
  builder: (y) => y.command([list, show, wait, retry] as never).demandCommand(1),
  handler: () => {
    throw new CliError('choose a jobs command');
  },
};
