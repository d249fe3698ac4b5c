import type { jobView } from '../gateway/views.ts';
import type { UpClient } from './client.ts';
import { emit } from './output.ts';

export type Job = ReturnType<typeof jobView>;

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
export const isFinalJob = (job: Job) => FINAL.has(job.status as string);

/**
 * Follows a job to its end with long polls; reports every new event as it appears.
 * Gives up after `timeoutMs`.
 */
export async function followJob(client: UpClient, id: string, options: { timeoutMs: number; onEvent?: (job: Job, event: NonNullable<Job['events']>[number]) => void }): Promise<Job> {
  const until = Date.now() + options.timeoutMs;
  let seen = 0;
  for (;;) {
    const waitMs = Math.max(0, Math.min(20_000, until - Date.now()));
    const { body: job } = await client.request<Job>('GET', `/v1/jobs/${encodeURIComponent(id)}?waitMs=${waitMs}`, { timeoutMs: waitMs + 10_000 });
    const events = job.events ?? [];
    for (const event of events.slice(seen)) options.onEvent?.(job, event);
    seen = events.length;
    if (isFinalJob(job) || Date.now() >= until) return job;
  }
}

/** The shell's answer for a job's outcome: 0 only when it succeeded. */
export const exitCodeOf = (job: Job) => (job.status === 'succeeded' ? 0 : isFinalJob(job) ? 1 : 2);

export function describeJob(job: Job): string {
  const lines = [
    `job      ${job.id}`,
    `op       ${job.op}`,
    `status   ${job.status}${job.error ? ` — ${job.error.message}` : ''}`,
    `attempt  ${job.attempt} of ${job.maxAttempts}`,
    `actor    ${job.actor}`,
    `created  ${job.createdAt}`,
  ];
  if (job.finishedAt) lines.push(`finished ${job.finishedAt}`);
  if (job.retryOf) lines.push(`retry of ${job.retryOf}`);
  if (job.result !== null && job.result !== undefined) lines.push(`result   ${JSON.stringify(job.result)}`);
  for (const e of job.events ?? []) {
    lines.push(`  ${e.at}  #${e.attempt} ${e.status.padEnd(10)} ${e.handler ? `${e.handler.host}:${e.handler.pid}` : ''}${e.durationMs !== null ? ` ${e.durationMs}ms` : ''}${e.message ? `  ${e.message}` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Reports a change that fanned out into several jobs (one per host): with `--wait` follows
 * them all and exits with the worst outcome; prints the change with each job's status.
 */
export async function reportFanOut<C extends { jobs: Job[] }>(
  client: UpClient,
  change: C,
  argv: { json: boolean; wait: boolean; timeout: number },
  headline: string,
): Promise<void> {
  let jobs = change.jobs;
  if (argv.wait) {
    jobs = await Promise.all(jobs.map((job) => followJob(client, job.id, { timeoutMs: argv.timeout * 1000 })));
    process.exitCode = Math.max(0, ...jobs.map(exitCodeOf));
  }
  emit(argv.json, { ...change, jobs }, () =>
    [headline, ...jobs.map((j) => `  ${j.target}: ${j.status}${j.error ? ` — ${j.error.message}` : ''}`)].join('\n'),
  );
}
