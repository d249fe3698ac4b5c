import type { jobView } from '../gateway/views.ts';
import { FINAL_STATUSES, type JobStatus } from '../queues/job-status.ts';
import type { UpClient } from './client.ts';
import { elapsed, emit, machineReadable } from './output.ts';

export type Job = ReturnType<typeof jobView>;

export const isFinalJob = (job: Job) => FINAL_STATUSES.has(job.status as JobStatus);

/**
 * Follows a job to its end with long polls, or with polls of `stepMs` at most when the caller
 * reports each change of status (the gateway's long poll answers only at the end). Reports
 * every new event as it appears; gives up after `timeoutMs`.
 */
export async function followJob(
  client: UpClient,
  id: string,
  options: {
    timeoutMs: number;
    stepMs?: number;
    onEvent?: (job: Job, event: NonNullable<Job['events']>[number]) => void;
    onChange?: (job: Job) => void;
    status?: string;
  },
): Promise<Job> {
  const until = Date.now() + options.timeoutMs;
  let seen = 0;
  let status = options.status;
  for (;;) {
    const waitMs = Math.max(0, Math.min(options.stepMs ?? 20_000, until - Date.now()));
    const { body: job } = await client.request<Job>('GET', `/v1/jobs/${encodeURIComponent(id)}?waitMs=${waitMs}`, {
      timeoutMs: waitMs + 10_000,
    });
    const events = job.events ?? [];
    for (const event of events.slice(seen)) options.onEvent?.(job, event);
    seen = events.length;
    if (job.status !== status) options.onChange?.(job);
    status = job.status;
    if (isFinalJob(job) || Date.now() >= until) return job;
  }
}

/**
 * The follow-ups of finished jobs, followed to their end too: the jobs up planned because these
 * succeeded (a role's set-up after host.prepare, the HTTPS vhost after a certificate), which
 * share their correlation id; and theirs in turn. Jobs of that correlation from before (the
 * job a retry repeats) are not follow-ups.
 */
export async function followUps(
  client: UpClient,
  roots: readonly Job[],
  options: { timeoutMs: number; onChange?: (job: Job) => void },
): Promise<Job[]> {
  const known = new Map(roots.map((job) => [job.id, job]));
  const found: Job[] = [];
  for (const root of roots) {
    for (let fresh = true; fresh; ) {
      const jobs = await client.listAll<Job>(`/v1/jobs?correlation=${encodeURIComponent(root.correlationId)}`);
      const next = jobs.filter((job) => !known.has(job.id) && job.createdAt >= root.createdAt);
      fresh = next.length > 0;
      next.forEach((job) => options.onChange?.(job));
      for (const job of next) {
        const done = await followJob(client, job.id, {
          timeoutMs: options.timeoutMs,
          stepMs: options.onChange ? 1_000 : undefined,
          onChange: options.onChange,
          status: job.status,
        });
        known.set(job.id, done);
        found.push(done);
      }
    }
  }
  return found;
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
    const run = e.delivery > 1 ? ` (run ${e.delivery})` : '';
    lines.push(
      `  ${e.at}  #${e.attempt}${run} ${e.status.padEnd(10)} ${e.handler ? `${e.handler.host}:${e.handler.pid}` : ''}${e.durationMs !== null ? ` ${e.durationMs}ms` : ''}${e.message ? `  ${e.message}` : ''}`,
    );
  }
  return lines.join('\n');
}

/** A progress line on stderr: `  [2.4s] website/shop@h1: running`. */
const progressLine = (started: number, job: Job) =>
  `  [${elapsed(Date.now() - started)}] ${job.target ?? job.op}: ${job.status}${job.error && isFinalJob(job) ? ` — ${job.error.message.split('\n', 1)[0]}` : ''}\n`;

/**
 * Reports a change that fanned out into several jobs (one per host): with `--wait` follows
 * them all, printing each job's state as it changes with the time since the start (stderr),
 * and exits with the worst outcome; then prints the change with each job's status.
 */
export async function reportFanOut<C extends { jobs: Job[] }>(
  client: UpClient,
  change: C,
  argv: { wait: boolean; timeout: number },
  headline: string,
): Promise<void> {
  let jobs = change.jobs;
  if (argv.wait && jobs.length > 0) {
    const started = Date.now();
    const progress = machineReadable() ? undefined : (job: Job) => process.stderr.write(progressLine(started, job));
    jobs.forEach((job) => progress?.(job));
    jobs = await Promise.all(
      jobs.map((job) =>
        followJob(client, job.id, {
          timeoutMs: argv.timeout * 1000,
          stepMs: progress ? 1_000 : undefined,
          onChange: progress,
          status: job.status,
        }),
      ),
    );
    jobs = [...jobs, ...(await followUps(client, jobs, { timeoutMs: argv.timeout * 1000, onChange: progress }))];
    process.exitCode = Math.max(0, ...jobs.map(exitCodeOf));
  }
  emit({ ...change, jobs }, () =>
    [headline, ...jobs.map((j) => `  ${j.target}: ${j.status}${j.error ? ` — ${j.error.message}` : ''}`)].join('\n'),
  );
}
