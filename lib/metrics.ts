import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every role registers what it measures here. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'up_process_' });

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

export const outboxBacklog = new Gauge({
  name: 'up_outbox_backlog',
  help: 'Accepted jobs not yet confirmed by the broker.',
  registers: [registry],
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
