import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { timeOfId } from './ids.ts';

/** One registry per process; every role registers what it measures here. */
export const registry = new Registry();
// The standard names (process_*, nodejs_*), which ready-made Node.js dashboards expect.
collectDefaultMetrics({ register: registry });

export const jobsTotal = new Counter({
  name: 'up_jobs_total',
  help: 'Jobs that reached a final state, by operation and outcome (recorded by the recorder).',
  labelNames: ['op', 'outcome'],
  registers: [registry],
});

export const jobsAccepted = new Counter({
  name: 'up_jobs_accepted_total',
  help: 'Jobs accepted by the gateway, by operation.',
  labelNames: ['op'],
  registers: [registry],
});

export const handlerDuration = new Histogram({
  name: 'up_handler_duration_seconds',
  help: 'Time a handler spent on one attempt, by operation and outcome.',
  labelNames: ['op', 'outcome'],
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
  registers: [registry],
});

export const publishLatency = new Histogram({
  name: 'up_publish_latency_seconds',
  help: 'Time from publish to broker confirm, by message kind.',
  labelNames: ['kind'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
  registers: [registry],
});

export const jobLatency = new Histogram({
  name: 'up_job_latency_seconds',
  help: 'Time from submit (the job accepted) to its final outcome, by operation and outcome (recorded by the recorder).',
  labelNames: ['op', 'outcome'],
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  registers: [registry],
});

/**
 * The recorder saw a job reach a final state. Its latency runs from the job's creation, which
 * its UUIDv7 id carries (no database read on the recorder's hot path), to the moment the handler
 * reported the outcome (the job's finished_at).
 */
export function jobFinished(event: { jobId: string; op: string; status: string; at: string }): void {
  jobsTotal.inc({ op: event.op, outcome: event.status });
  const created = timeOfId(event.jobId);
  const finished = Date.parse(event.at);
  if (created !== null && Number.isFinite(finished)) {
    // Two clocks (the gateway's, the handler's): a small skew must not make a negative latency.
    jobLatency.observe({ op: event.op, outcome: event.status }, Math.max(0, finished - created) / 1000);
  }
}

export const httpRequests = new Counter({
  name: 'up_http_requests_total',
  help: 'HTTP requests answered by the gateway, by method, route pattern (never the raw URL) and status code.',
  labelNames: ['method', 'route', 'status'],
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'up_http_request_duration_seconds',
  help: 'Time the gateway took to answer, by method and route pattern (long polls included).',
  labelNames: ['method', 'route'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

/*
 * The state of the whole system, read from the database and the broker by one role (the
 * scheduler, see schedulers/state-metrics.ts) when it is scraped, not by every process.
 */
let stateReader: (() => Promise<void>) | null = null;

/** Sets (or, with null, removes) what brings the state gauges up to date before a scrape reads them. */
export function readStateWith(reader: (() => Promise<void>) | null): void {
  stateReader = reader;
}

const readState = async () => {
  await stateReader?.();
};

export const outboxBacklog = new Gauge({
  name: 'up_outbox_backlog',
  help: 'Accepted jobs not yet confirmed by the broker.',
  registers: [registry],
  collect: readState,
});

export const queueMessagesReady = new Gauge({
  name: 'up_queue_messages_ready',
  help: 'Messages waiting in a broker queue, by queue and the operation it feeds (none for up.dead).',
  labelNames: ['queue', 'op'],
  registers: [registry],
  collect: readState,
});

export const queueMessagesUnacked = new Gauge({
  name: 'up_queue_messages_unacked',
  help: 'Messages handed to a consumer and not yet settled (only with UP_AMQP_MANAGEMENT_URL).',
  labelNames: ['queue', 'op'],
  registers: [registry],
  collect: readState,
});

export const queueConsumers = new Gauge({
  name: 'up_queue_consumers',
  help: 'Consumers of a broker queue; 0 on an operation queue means its jobs wait for good.',
  labelNames: ['queue', 'op'],
  registers: [registry],
  collect: readState,
});

export const deadLetters = new Gauge({
  name: 'up_dead_letters',
  help: 'Dead letters kept and not replayed, by operation.',
  labelNames: ['op'],
  registers: [registry],
  collect: readState,
});

export const alarmsOpen = new Gauge({
  name: 'up_alarms_open',
  help: 'Open alarms, by resource type and cause.',
  labelNames: ['resource_type', 'cause'],
  registers: [registry],
  collect: readState,
});

export const certificateExpiry = new Gauge({
  name: 'up_certificate_expiry_timestamp_seconds',
  help: 'When each certificate expires (its notAfter, Unix seconds): alert on `up_certificate_expiry_timestamp_seconds - time() < 14 * 86400`.',
  labelNames: ['id', 'kind', 'name'],
  registers: [registry],
  collect: readState,
});

/** Measures a publish; returns its promise unchanged. */
export async function timedPublish<T>(kind: string, publish: () => Promise<T>): Promise<T> {
  const end = publishLatency.startTimer({ kind });
  try {
    return await publish();
  } finally {
    end();
  }
}
