/**
 * The health daemon's cost: health.check.host and health.check.website messages published
 * straight to RabbitMQ (as the scheduler does) for one `up handler` process checking two lab
 * proxy hosts over SSH with real nginx and sites on them; checks per second, and the handler's
 * CPU per check (from /proc) extrapolated to 10,000 resources every 5 minutes.
 * Run directly (as root, RabbitMQ up): node --import tsx bench/health.ts   (UP_BENCH_HEALTH_CHECKS=2000)
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import pino from 'pino';
import { HostConnector } from '../handlers/runtime/connector.ts';
import websiteApplyHandler from '../handlers/websites/website.apply/handler.ts';
import { newJobId } from '../lib/ids.ts';
import { ENVELOPE_VERSION, type Envelope } from '../queues/envelope.ts';
import type { HostRef } from '../queues/host-ref.ts';
import { healthCheckHost } from '../queues/hosts/health.ts';
import { healthCheckWebsite } from '../queues/websites/health.ts';
import { resultRoutingKey } from '../queues/result-event.ts';
import { OPS_EXCHANGE, RESULTS_EXCHANGE } from '../queues/topology.ts';
import { labHosts, type LabHost } from '../test/helpers/lab-hosts.ts';
import { labNginx } from '../test/helpers/lab-nginx.ts';
import { spawnUp, type UpProcess } from '../test/helpers/processes.ts';
import { freshVhost } from '../test/helpers/rabbitmq.ts';
import { cpuByGroup } from './cpu.ts';
import { line, percentiles, round } from './stats.ts';

const PORT = 80;
const WILDCARD = 'hcb.web.test';
const SITES_PER_HOST = 20;
/** The budget the issue names: every one of 10,000 resources checked every 5 minutes. */
const RESOURCES = 10_000;
const INTERVAL_S = 300;

const hostRef = (host: LabHost): HostRef => ({
  name: host.name,
  address: host.address,
  port: host.port,
  user: host.user,
  hostKeySha256: host.hostKeySha256,
});
const layoutOf = (dir: string) => ({ group: 'bench', baseDir: dir, httpPort: PORT, nginxUser: 'www-data', ipv6: false });

function siteSpec(key: string) {
  return {
    id: randomUUID(),
    key,
    generation: 1,
    owner: null,
    serverNames: [`${key}.${WILDCARD}`],
    static: true,
    routes: [],
    maxBodySize: '10m',
    basicAuth: null,
    errorPages: [],
    headers: [],
    redirects: [],
    httpsRedirect: false,
    tls: false,
  };
}

/** An envelope as the health scheduler publishes it: no job row, a deadline, one attempt. */
function checkEnvelope(op: { name: string; version: number }, payload: unknown, target: string): Envelope {
  const id = newJobId();
  const now = Date.now();
  return {
    v: ENVELOPE_VERSION,
    id,
    op: op.name,
    payloadVersion: op.version,
    tenant: null,
    actor: 'bench',
    attempt: 1,
    correlationId: id,
    requestedAt: new Date(now).toISOString(),
    deadline: new Date(now + 600_000).toISOString(),
    target,
    payload,
  };
}

type Planned = { op: { name: string; version: number }; payload: unknown; target: string };

/** Puts SITES_PER_HOST sites on each host with website.apply itself; returns the checks of one round. */
async function deploy(hosts: { host: LabHost; dir: string }[]): Promise<Planned[]> {
  const connector = new HostConnector(hosts[0].host.privateKeyFile);
  const planned: Planned[] = [];
  try {
    for (const { host, dir } of hosts) {
      const ref = hostRef(host);
      planned.push({
        op: healthCheckHost,
        payload: {
          resource: { type: 'host', key: host.name },
          host: ref,
          thresholds: { diskPercent: 100, memoryPercent: 100, loadPerCpu: 1000 },
        },
        target: host.name,
      });
      for (let i = 0; i < SITES_PER_HOST; i++) {
        const site = siteSpec(`s${i}-bench`);
        await websiteApplyHandler.run(
          { host: ref, layout: layoutOf(dir), site },
          {
            signal: new AbortController().signal,
            log: pino({ level: 'silent' }),
            job: { id: randomUUID(), attempt: 1, tenant: null, actor: 'bench', target: null },
            connect: (h: HostRef) => connector.connect(h),
          },
        );
        const key = `${site.key}@${host.name}`;
        const spec = { id: site.id, key: site.key, generation: 1, tempDomain: `${site.key}.${WILDCARD}` };
        planned.push({
          op: healthCheckWebsite,
          payload: { resource: { type: 'website', key }, host: ref, layout: layoutOf(dir), site: spec },
          target: key,
        });
      }
    }
  } finally {
    await connector.close();
  }
  return planned;
}

/**
 * Keeps `window` checks in flight until `count` have come back: the handler's sustained rate.
 * (Published all at once, checks beyond what one handler does within the queue's TTL would
 * expire unread, as stale checks should.) A check that never comes back stops the burst.
 */
async function checkBurst(url: string, planned: Planned[], count: number, window = 128) {
  const connection = await amqp.connect(url);
  const pub = await connection.createConfirmChannel();
  const watch = await connection.createChannel();
  const { queue } = await watch.assertQueue('', { exclusive: true, autoDelete: true });
  for (const status of ['succeeded', 'failed', 'dead'] as const) await watch.bindQueue(queue, RESULTS_EXCHANGE, resultRoutingKey(status));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const outcomes = { healthy: 0, unhealthy: 0, failed: 0 };
  let published = 0;
  let seen = 0;
  const publishNext = () => {
    const check = planned[published++ % planned.length];
    const envelope = checkEnvelope(check.op, check.payload, check.target);
    sentAt.set(envelope.id, performance.now());
    pub.publish(OPS_EXCHANGE, check.op.name, Buffer.from(JSON.stringify(envelope)), { persistent: true, messageId: envelope.id });
  };
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let stall = setTimeout(() => reject(new Error('no check came back for 60 s')), 60_000);
      void watch.consume(queue, (msg) => {
        if (!msg) return;
        watch.ack(msg);
        type Outcome = { jobId: string; status: string; result?: { healthy?: boolean } };
        const parsed = JSON.parse(msg.content.toString()) as Outcome | Outcome[];
        for (const event of Array.isArray(parsed) ? parsed : [parsed]) {
          const sent = sentAt.get(event.jobId);
          if (sent === undefined) continue;
          sentAt.delete(event.jobId);
          latencies.push(performance.now() - sent);
          if (event.status !== 'succeeded') outcomes.failed++;
          else if (event.result?.healthy) outcomes.healthy++;
          else outcomes.unhealthy++;
          clearTimeout(stall);
          stall = setTimeout(() => reject(new Error(`no check came back for 60 s (${seen} of ${count} did)`)), 60_000);
          if (++seen === count) {
            clearTimeout(stall);
            resolve();
          } else if (published < count) publishNext();
        }
      });
      while (published < Math.min(window, count)) publishNext();
    });
  } finally {
    await connection.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { rate: count / seconds, seconds, outcomes, ...percentiles(latencies) };
}

export async function benchHealth(options: { checks?: number } = {}) {
  const checks = options.checks ?? Number(process.env.UP_BENCH_HEALTH_CHECKS ?? 2000);
  const lab = await labHosts(2, { prefix: 'up-hcc', subnet: '10.77.13', bridge: 'uplab13' });
  const nginx = await labNginx(lab.hosts, PORT).catch(async (error) => {
    await lab.down();
    throw error;
  });
  const vhost = await freshVhost();
  let handler: UpProcess | undefined;
  try {
    const planned = await deploy(nginx.map((n) => ({ host: n.host, dir: n.dir })));
    handler = spawnUp(['handler', healthCheckHost.name, healthCheckWebsite.name], {
      UP_AMQP_URL: vhost.url,
      UP_SSH_KEY_FILE: lab.hosts[0].privateKeyFile,
      UP_HTTP_PORT: '0',
      UP_LOG_LEVEL: 'info',
      UP_DATA_DIR: '/tmp/up-bench',
    });
    await handler.waitFor(/handlers consuming/);
    const pid = handler.child.pid!;
    // Warm up: SSH connections opened, code compiled; not what a round costs.
    await checkBurst(vhost.url, planned, planned.length * 2);
    const before = cpuByGroup({ handler: pid });
    const burst = await checkBurst(vhost.url, planned, checks);
    const after = cpuByGroup({ handler: pid });
    const cpuMsPerCheck = ((after.handler ?? 0) - (before.handler ?? 0)) / checks;
    const neededPerSecond = RESOURCES / INTERVAL_S;
    const coreShare = (cpuMsPerCheck * neededPerSecond) / 1000;
    const figures = {
      checks,
      checks_per_s: round2(burst.rate),
      p50_ms: burst.p50,
      p99_ms: burst.p99,
      healthy: burst.outcomes.healthy,
      unhealthy: burst.outcomes.unhealthy,
      failed: burst.outcomes.failed,
      handler_cpu_ms_per_check: round(cpuMsPerCheck, 3),
      /** How much of the burst the handler spent on CPU: low means it waited on the hosts (SSH, nginx, curl). */
      handler_busy_percent: round(((after.handler ?? 0) - (before.handler ?? 0)) / (burst.seconds * 10), 1),
      budget_checks_per_s: round2(neededPerSecond),
      budget_core_percent: round(coreShare * 100, 1),
      budget_handler_processes: round(neededPerSecond / burst.rate, 2),
    };
    console.log(
      line(`health: ${checks} checks (host + website, ${lab.hosts.length} hosts × ${SITES_PER_HOST} sites), one handler`, {
        'checks/s': figures.checks_per_s,
        p50_ms: figures.p50_ms,
        p99_ms: figures.p99_ms,
        healthy: figures.healthy,
        unhealthy: figures.unhealthy,
        failed: figures.failed,
      }),
    );
    console.log(
      line('    handler CPU per check', { ms: figures.handler_cpu_ms_per_check, busy_during_burst: `${figures.handler_busy_percent}%` }),
    );
    console.log(
      line(`health: ${RESOURCES} resources every ${INTERVAL_S / 60} min`, {
        'checks/s': figures.budget_checks_per_s,
        handler_cpu: `${figures.budget_core_percent}% of one core`,
        handler_processes_at_measured_rate: figures.budget_handler_processes,
      }),
    );
    return figures;
  } finally {
    await handler?.kill('SIGTERM');
    await vhost.cleanup().catch(() => undefined);
    for (const n of nginx) await n.down().catch(() => undefined);
    await lab.down();
  }
}

const round2 = (n: number) => round(n, 1);

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchHealth()));
}
