/** Every state a job can be in; see DESIGN.md "Job states". */
export const JOB_STATUSES = ['accepted', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'dead', 'superseded'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'dead', 'superseded']);

export const isFinal = (status: JobStatus) => FINAL_STATUSES.has(status);
