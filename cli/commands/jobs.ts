import type { CommandModule } from 'yargs';
import { JOB_STATUSES } from '../../queues/job-status.ts';
import { type Page, UpClient } from '../client.ts';
import { group } from '../command.ts';
import { describeJob, exitCodeOf, followJob, followUps, isFinalJob, type Job } from '../follow.ts';
import { emit, machineReadable, table, when } from '../output.ts';

/**
 * Prints a job's progress while following it, then its final state; sets the exit code.
 * `notes`: what the outcome does not show (a role's set-up that waits for something else).
 */
export async function waitAndReport(
  client: UpClient,
  id: string,
  argv: { timeout?: number },
  notes: readonly string[] = [],
): Promise<void> {
  const timeoutMs = (argv.timeout ?? 120) * 1000;
  const job = await followJob(client, id, {
    timeoutMs,
    onEvent: machineReadable()
      ? undefined
      : (_job, e) => process.stderr.write(`  #${e.attempt} ${e.status}${e.message ? `: ${e.message}` : ''}\n`),
  });
  // What up does next because this job succeeded (a role's set-up, an HTTPS vhost) is part of the change.
  const next = isFinalJob(job) ? await followUps(client, [job], { timeoutMs }) : [];
  emit({ ...job, ...(next.length ? { followUps: next } : {}), ...(notes.length ? { notes } : {}) }, () =>
    [
      describeJob(job),
      ...next.map((f) => `then ${f.op} ${f.id} ${f.status}${f.error ? ` — ${f.error.message}` : ''}`),
      ...notes.map((note) => `note: ${note}`),
    ].join('\n'),
  );
  process.exitCode = Math.max(exitCodeOf(job), ...next.map(exitCodeOf));
}

/** `--wait` and `--timeout`, the same on every command that starts a job. */
export const waitOptions = (y: any, timeout = 120) =>
  y
    .option('wait', { type: 'boolean', default: false, describe: 'follow the job to its end; exit 0 only if it succeeded' })
    .option('timeout', { type: 'number', default: timeout, describe: 'seconds to wait with --wait' });

const list: CommandModule<any, { status?: string; op?: string; limit: number; after?: string }> = {
  command: 'list',
  describe: 'list jobs, newest first',
  builder: (y) =>
    y
      .option('status', { choices: JOB_STATUSES, describe: 'only jobs in this status' })
      .option('op', { type: 'string', describe: 'only this operation, e.g. website.apply' })
      .option('limit', { type: 'number', default: 50, describe: 'jobs per page (at most 500)' })
      .option('after', {
        type: 'string',
        describe: 'page cursor: the next page starts after it (the `more:` of the previous page)',
      }) as never,
  handler: async (argv) => {
    const query = new URLSearchParams({ limit: String(argv.limit) });
    if (argv.status) query.set('status', argv.status);
    if (argv.op) query.set('op', argv.op);
    if (argv.after) query.set('after', argv.after);
    const { body } = await UpClient.fromEnvironment().request<Page<Job>>('GET', `/v1/jobs?${query}`);
    emit(body, () => {
      const rows = body.items.map((j) => ({
        id: j.id,
        op: j.op,
        target: j.target,
        status: j.status,
        attempt: j.attempt,
        created: when(j.createdAt),
        error: j.error?.message,
      }));
      return (
        table(rows, ['id', 'op', 'target', 'status', 'attempt', 'created', 'error']) + (body.next ? `\n(more: --after ${body.next})` : '')
      );
    });
  },
};

const show: CommandModule<any, { id: string }> = {
  command: 'show <id>',
  describe: 'a job with its events',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Job>('GET', `/v1/jobs/${encodeURIComponent(argv.id)}`);
    emit(body, () => describeJob(body));
  },
};

const wait: CommandModule<any, { id: string; timeout: number }> = {
  command: 'wait <id>',
  describe: 'follow a job to its end; exit 0 when it succeeded, 1 when it did not, 2 on timeout',
  builder: (y) => y.option('timeout', { type: 'number', default: 120, describe: 'seconds' }) as never,
  handler: (argv) => waitAndReport(UpClient.fromEnvironment(), argv.id, argv),
};

const retry: CommandModule<any, { id: string; wait: boolean; timeout: number }> = {
  command: 'retry <id>',
  describe: 'run a failed or dead job again (as a new job)',
  builder: (y) => waitOptions(y),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Job>('POST', `/v1/jobs/${encodeURIComponent(argv.id)}/retry`);
    if (argv.wait) return waitAndReport(client, body.id, argv);
    emit(body, () => `retrying as job ${body.id} (${body.status})`);
  },
};

export const jobs = group('up jobs', [list, show, wait, retry]);
