/**
 * Websites on real nginx, on a lab proxy host of its own:
 * - request → answering: from `POST /v1/websites` until the new site answers through nginx
 *   at its temporary subdomain (the whole pipeline: gateway, job, handler over SSH, reload),
 *   with each stage read from the job rows (gateway, queue, handler, recorder), and the raw
 *   steps by hand on the same host over the same SSH path (connect, a command, `nginx -t`,
 *   reload), and website.apply alone with each of its SSH calls timed;
 * - adding one site to a proxy that already holds N sites (only the new vhost is written)
 *   next to the raw `nginx -t` + reload at that size on the same host, and their ratio;
 * - request → HTTPS: a site whose domain is in a zone hosted here (DNS-01 through a lab BIND,
 *   pebble as the CA, 1 s DNS propagation) until curl verifies its certificate: website.apply,
 *   cert.issue (certbot's own time from its log), the HTTPS follow-up apply and the gaps, and
 *   cert.issue's work alone with each SSH call timed, in the pipeline and out of it.
 * Run directly (as root): node --import tsx bench/websites.ts   (UP_BENCH_WEB_SIZES=1000,10000,
 * UP_BENCH_WEB_HTTPS_RUNS=3 (0: none), UP_BENCH_WEB_TIMELINE=1 prints every SSH call of the HTTPS
 * runs, UP_BENCH_KEEP_CERTBOT_LOG=<file> keeps certbot's log of the last run)
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import pino from 'pino';
import { createToken } from '../gateway/users/token-store.ts';
import { createUser } from '../gateway/users/store.ts';
import { issueAndInstall } from '../handlers/certificates/cert.issue/run.ts';
import { HostConnector } from '../handlers/runtime/connector.ts';
import websiteApplyHandler from '../handlers/websites/website.apply/handler.ts';
import { renderVhost } from '../handlers/websites/website.apply/view.ts';
import { type Command, sh } from '../lib/exec/command.ts';
import type { Executor, LockOptions } from '../lib/exec/types.ts';
import type { HostRef } from '../queues/host-ref.ts';
import { labAcme } from '../test/helpers/acme.ts';
import { labHosts, type LabHost } from '../test/helpers/lab-hosts.ts';
import { curlSite, labNginx } from '../test/helpers/lab-nginx.ts';
import { startStack } from '../test/helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../test/helpers/unix-users.ts';
import { line, percentiles, round } from './stats.ts';

const PORT = 80;
const WILDCARD = 'bench.web.test';
/** The tenant of the HTTPS runs: up creates its Unix user on the lab host, and the bench removes it. */
const TLS_TENANT = 'benchtls';
const BRIDGE = '10.77.27.1';

const hostRef = (host: LabHost): HostRef => ({
  name: host.name,
  address: host.address,
  port: host.port,
  user: host.user,
  hostKeySha256: host.hostKeySha256,
});

function spec(key: string, generation = 1) {
  return {
    id: randomUUID(),
    key,
    generation,
    owner: null,
    serverNames: [`${key}.${WILDCARD}`, `www.${key}.example`],
    static: true,
    routes: [{ path: '/api/', upstream: '10.77.27.1:3001', websocket: false }],
    maxBodySize: '10m',
    basicAuth: null,
    errorPages: [],
    headers: [],
    redirects: [],
    httpsRedirect: false,
    tls: false,
  };
}

/** What the job rows say of one job: when it was written, ran and was recorded (all epoch ms). */
interface JobTimes {
  id: string;
  op: string;
  /** The row's INSERT (its transaction's start: PostgreSQL's now()). */
  created: number;
  /** The handler began (its reported outcome time less the duration it measured). */
  started: number;
  /** The handler reported its outcome. */
  finished: number;
  /** The recorder wrote the outcome on the row. */
  recorded: number;
  payload: unknown;
}

async function jobTimes(db: Knex, ids: string[]): Promise<JobTimes[]> {
  const rows: {
    id: string;
    op: string;
    created_at: Date;
    finished_at: Date | null;
    duration_ms: number | null;
    updated_at: Date;
    payload: unknown;
  }[] = await db('jobs').whereIn('id', ids).select('id', 'op', 'created_at', 'finished_at', 'duration_ms', 'updated_at', 'payload');
  return rows.map((r) => {
    const finished = r.finished_at ? r.finished_at.getTime() : NaN;
    return {
      id: r.id,
      op: r.op,
      created: r.created_at.getTime(),
      started: finished - (r.duration_ms ?? NaN),
      finished,
      recorded: r.updated_at.getTime(),
      payload: r.payload,
    };
  });
}

/** Polls the job rows until every one is final (the site may answer before its outcome is recorded). */
async function settled(db: Knex, ids: string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await db('jobs')
      .whereIn('id', ids)
      .whereNotIn('status', ['succeeded', 'failed', 'dead', 'superseded'])
      .count<{ n: string }[]>({ n: '*' });
    if (Number(open[0].n) === 0) return;
    await sleep(20);
  }
  throw new Error(`jobs ${ids.join(', ')} did not finish within ${timeoutMs} ms`);
}

type Stages = Record<string, number[]>;
const addStage = (stages: Stages, name: string, ms: number) => (stages[name] ??= []).push(ms);
const summary = (samples: number[]) => {
  const { p50, p99 } = percentiles(samples);
  return { p50: round(p50, 1), p99: round(p99, 1) };
};

async function requestToAnswer(host: LabHost, dir: string, runs: number) {
  const stack = await startStack();
  try {
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${stack.url}${path}`, {
        method,
        headers: { ...stack.auth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => r.json());
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['proxy'],
    });
    await api('POST', '/v1/proxies', { name: 'bench', wildcardDomain: WILDCARD, addresses: [host.address] });
    const joined = (await api('POST', '/v1/proxies/bench/hosts', { host: host.name, baseDir: dir })) as { jobs: { id: string }[] };
    for (const job of joined.jobs)
      while (!['succeeded', 'failed', 'dead'].includes(((await api('GET', `/v1/jobs/${job.id}`)) as { status: string }).status))
        await sleep(20);
    const samples: number[] = [];
    const stages: Stages = {};
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const sent = Date.now();
      const created = (await api('POST', '/v1/websites', { name: `r${i}`, proxy: 'bench' })) as {
        website: { tempDomain: string };
        jobs: { id: string }[];
      };
      const replied = Date.now();
      const name = created.website.tempDomain;
      for (;;) {
        const answer = await curlSite(name, host.address, PORT);
        if (answer.body !== 'no such site\n') break;
        await sleep(10);
      }
      samples.push(performance.now() - started);
      const answered = Date.now();
      // One website.apply per member (one member here): the last to finish is the one the answer waited for.
      const ids = created.jobs.map((j) => j.id);
      await settled(db, ids);
      const jobs = await jobTimes(db, ids);
      const last = jobs.reduce((a, b) => (b.finished > a.finished ? b : a));
      addStage(stages, 'reply', replied - sent);
      addStage(stages, 'gateway', last.created - sent);
      addStage(stages, 'queue', last.started - last.created);
      addStage(stages, 'handler', last.finished - last.started);
      addStage(stages, 'recorder', last.recorded - last.finished);
      addStage(stages, 'answer', answered - last.finished);
    }
    return { ...summary(samples), stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, summary(v)])) };
  } finally {
    await stack.shutdown();
  }
}

/**
 * The same steps by hand, over the same SSH path (the handlers' connector) to the same host:
 * a fresh SSH connection with its first command, a command on the open connection, `nginx -t`
 * and the reload, and all of what website.apply does in their raw form: write a vhost, test,
 * reload, and curl until the new name answers.
 */
async function rawSteps(host: LabHost, dir: string, runs: number) {
  const nginx = sh`nginx -e ${`${dir}/logs/error.log`} -c ${`${dir}/nginx.conf`}`;
  const layout = { group: 'bench', baseDir: dir, httpPort: PORT, nginxUser: 'www-data', ipv6: false };
  const steps: Stages = {};
  for (let i = 0; i < runs; i++) {
    const fresh = new HostConnector(host.privateKeyFile);
    const t = performance.now();
    await fresh.connect(hostRef(host)).run(sh`true`);
    addStage(steps, 'sshConnect', performance.now() - t);
    await fresh.close();
  }
  const connector = new HostConnector(host.privateKeyFile);
  const exec = connector.connect(hostRef(host));
  try {
    await exec.run(sh`true`);
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      await exec.run(sh`true`);
      addStage(steps, 'sshCommand', performance.now() - t);
      t = performance.now();
      await exec.run(sh`${nginx} -t 2>/dev/null`);
      addStage(steps, 'nginxTest', performance.now() - t);
      t = performance.now();
      await exec.run(sh`${nginx} -s reload`);
      addStage(steps, 'reload', performance.now() - t);
      await sleep(200);
    }
    for (let i = 0; i < runs; i++) {
      const key = `raw${i}-admin`;
      const started = performance.now();
      await exec.putFile(`${dir}/vhosts/${key}.conf`, renderVhost(layout, spec(key)), { mode: 0o644 });
      await exec.run(sh`${nginx} -t 2>/dev/null && ${nginx} -s reload`);
      for (;;) {
        const answer = await curlSite(`${key}.${WILDCARD}`, host.address, PORT);
        if (answer.body !== 'no such site\n') break;
        await sleep(10);
      }
      addStage(steps, 'byHand', performance.now() - started);
    }
    // website.apply itself, outside the pipeline, each of its SSH calls timed.
    const apply = await handlerCalls(connector, runs, (connect, i) =>
      websiteApplyHandler.run({ host: hostRef(host), layout, site: spec(`trace${i}-admin`) }, handlerCtx(connect)),
    );
    await exec.run(sh`rm -f ${`${dir}/vhosts`}/raw*-admin.conf ${`${dir}/vhosts`}/trace*-admin.conf`);
    const raw = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, summary(v)])) as Record<
      'sshConnect' | 'sshCommand' | 'nginxTest' | 'reload' | 'byHand',
      { p50: number; p99: number }
    >;
    return { ...raw, apply };
  } finally {
    await connector.close();
  }
}

const TLS_ZONE = 'benchzone.test';
const TLS_WILDCARD = 'tls.web.test';
const run = promisify(execFile);

/** certbot's own log of its last run: how long it took, and how much of it was the DNS propagation wait. */
function certbotLog(dir: string): { certbotMs: number; propagationMs: number } {
  const lines = readFileSync(`${dir}/certbot/logs/letsencrypt.log`, 'utf8').split('\n');
  const stamped = lines.flatMap((text) => {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}):/.exec(text);
    return m ? [{ at: Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`), text }] : [];
  });
  stamped.splice(
    0,
    Math.max(
      0,
      stamped.findLastIndex((l) => /certbot version:/.test(l.text)),
    ),
  );
  const wait = stamped.findIndex((l) => /Waiting \d+ seconds for DNS changes to propagate/.test(l.text));
  return {
    certbotMs: stamped.at(-1)!.at - stamped[0].at,
    propagationMs: wait >= 0 && stamped[wait + 1] ? stamped[wait + 1].at - stamped[wait].at : NaN,
  };
}

/** `curl --cacert <pebble root> --resolve name:443:address https://name/`: verified, and answering. */
async function httpsAnswers(name: string, address: string, root: string): Promise<boolean> {
  try {
    const { stdout } = await run('curl', [
      '-s',
      '--max-time',
      '5',
      '--cacert',
      root,
      '--resolve',
      `${name}:443:${address}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `https://${name}/`,
    ]);
    return stdout !== '000';
  } catch {
    return false;
  }
}

/**
 * From `POST /v1/websites` of a site whose domain is in a zone hosted here until its HTTPS
 * answers with a certificate curl verifies against pebble's root: website.apply, cert.issue
 * (certbot, DNS-01 through the lab BIND, 1 s propagation), the HTTPS follow-up apply, and the
 * gaps between them. Then certbot by hand on the same issuer, the same way (the baseline).
 */
async function httpsToAnswer(host: LabHost, runs: number) {
  const [nginx] = await labNginx([host], PORT, 'nginx-tls');
  const acme = await labAcme(BRIDGE);
  const saved = { ...process.env };
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  // The handlers run in this process: their SSH calls are timed too, through their connector.
  const inPipeline: [string, number, number?][] = [];
  const connect = HostConnector.prototype.connect;
  HostConnector.prototype.connect = function (this: HostConnector, h: HostRef) {
    return traced(connect.call(this, h), inPipeline);
  };
  try {
    await removeUnixUsers([TLS_TENANT]);
    await acme.addZone(TLS_ZONE, [], { updatable: true });
    Object.assign(process.env, acme.env);
    stack = await startStack();
    const url = stack.url;
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['proxy'],
    });
    const user = (await createUser(db, { name: TLS_TENANT, role: 'user' }))!;
    // The lab host shares /etc/passwd and /etc/subuid with this machine: ids no test uses.
    await isolateSubids(db, [TLS_TENANT]);
    const { secret } = await createToken(db, {
      userId: user.id,
      name: 'bench',
      scopes: ['read', 'write'],
      allowFrom: [],
      ratePerMinute: null,
      expiresAt: null,
    });
    const serverId = await acme.hostZone(db, { primaryHost: host.name, ownerId: user.id });
    await db('dns_zones').insert({ id: randomUUID(), name: TLS_ZONE, owner_id: user.id, server_id: serverId, status: 'active' });
    const call = (authorization: string) => async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, any>;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const admin = call(stack.auth.authorization);
    const owner = call(`Bearer ${secret}`);
    await admin('POST', '/v1/proxies', {
      name: 'tls',
      wildcardDomain: TLS_WILDCARD,
      addresses: [host.address],
      httpPort: PORT,
      httpsPort: 443,
    });
    const joined = await admin('POST', '/v1/proxies/tls/hosts', { host: host.name, baseDir: nginx.dir });
    await settled(
      db,
      joined.jobs.map((j: { id: string }) => j.id),
    );

    const samples: number[] = [];
    const stages: Stages = {};
    const perRun: Map<string, number>[] = [];
    for (let i = 0; i < runs; i++) {
      const name = `s${i}.${TLS_ZONE}`;
      const started = performance.now();
      const sent = Date.now();
      const created = await owner('POST', '/v1/websites', { name: `s${i}`, proxy: 'tls', domains: [name] });
      while (!(await httpsAnswers(name, host.address, acme.pebble.root))) await sleep(20);
      samples.push(performance.now() - started);
      const answered = Date.now();
      // The request's jobs, and the follow-ups that carry one's correlation id (the certificate's).
      const asked: string[] = created.jobs.map((j: { id: string }) => j.id);
      const correlations = db('jobs').whereIn('id', asked).select('correlation_id');
      let ids: string[] = asked;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && ids.length <= asked.length; await sleep(50)) {
        ids = (await db('jobs').whereIn('correlation_id', correlations.clone()).select('id')).map((r: { id: string }) => r.id);
      }
      await settled(db, ids);
      const jobs = await jobTimes(db, ids);
      const generation = (j: JobTimes) => (j.payload as { site?: { generation?: number } }).site?.generation ?? 0;
      const applies = jobs.filter((j) => j.op === 'website.apply').sort((a, b) => generation(a) - generation(b));
      const cert = jobs.find((j) => j.op === 'cert.issue');
      const [apply, https] = [applies[0], applies.at(-1)];
      if (!cert || !apply || !https || apply === https)
        throw new Error(`unexpected jobs for ${name}: ${JSON.stringify(jobs.map((j) => j.op))}`);
      const certbot = certbotLog(nginx.dir);
      addStage(stages, 'total', answered - sent);
      addStage(stages, 'gateway', Math.min(apply.created, cert.created) - sent);
      addStage(stages, 'applyQueue', apply.started - apply.created);
      addStage(stages, 'apply', apply.finished - apply.started);
      addStage(stages, 'certQueue', cert.started - cert.created);
      addStage(stages, 'cert', cert.finished - cert.started);
      addStage(stages, 'certbot', certbot.certbotMs);
      addStage(stages, 'propagation', certbot.propagationMs);
      addStage(stages, 'certOther', cert.finished - cert.started - certbot.certbotMs);
      addStage(stages, 'certToFollowUp', https.created - cert.finished);
      addStage(stages, 'httpsQueue', https.started - https.created);
      addStage(stages, 'httpsApply', https.finished - https.started);
      addStage(stages, 'answer', answered - https.finished);
      addStage(stages, 'others', jobs.length - 3);
      const calls = inPipeline.filter(([, , at]) => at! >= started);
      perRun.push(calls.reduce((m, [label, ms]) => m.set(label, (m.get(label) ?? 0) + ms), new Map<string, number>()));
      if (process.env.UP_BENCH_WEB_TIMELINE)
        for (const [label, ms, at] of calls)
          console.log(line(`    timeline s${i}: ${label}`, { atMs: Math.round(at! - started), ms: Math.round(ms) }));
    }
    HostConnector.prototype.connect = connect;
    const labels = [...new Set(perRun.flatMap((m) => [...m.keys()]))];
    const pipelineCalls: [string, number][] = labels.map((l) => [l, summary(perRun.map((m) => m.get(l) ?? 0)).p50]);

    // cert.issue's work by hand on the same issuer, outside the pipeline, each SSH call timed
    // (the same payload; a forced new certificate each time).
    const certJobRow = await db('jobs').where({ op: 'cert.issue' }).orderBy('created_at', 'desc').first('payload');
    const connector = new HostConnector(host.privateKeyFile);
    let issue: Awaited<ReturnType<typeof handlerCalls>>;
    try {
      issue = await handlerCalls(connector, runs, async (connect) => {
        await issueAndInstall(certJobRow.payload, handlerCtx(connect), true);
        addStage(stages, 'rawCertbot', certbotLog(nginx.dir).certbotMs);
        if (process.env.UP_BENCH_KEEP_CERTBOT_LOG)
          copyFileSync(`${nginx.dir}/certbot/logs/letsencrypt.log`, process.env.UP_BENCH_KEEP_CERTBOT_LOG);
      });
      for (let i = 0; i < runs; i++) {
        const v = performance.now();
        await connector.connect(hostRef(host)).run(sh`certbot --version`);
        addStage(stages, 'rawCertbotVersion', performance.now() - v);
      }
    } finally {
      await connector.close();
    }
    return {
      ...summary(samples),
      runs,
      issue,
      pipelineCalls,
      stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, summary(v)])),
    };
  } finally {
    HostConnector.prototype.connect = connect;
    await stack?.shutdown();
    await removeUnixUsers([TLS_TENANT]);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await acme.down().catch(() => undefined);
    await nginx.down().catch(() => undefined);
  }
}

function printHttps(https: Awaited<ReturnType<typeof httpsToAnswer>>): void {
  const st = https.stages;
  const fig = (s: { p50: number; p99: number }, extra: Record<string, number> = {}) => ({ p50Ms: s.p50, maxMs: s.p99, ...extra });
  console.log(line('website: request → HTTPS verified (DNS-01, zone here)', fig(st.total, { runs: https.runs, goalP50Ms: 5000 })));
  console.log(line('  gateway: request sent → job rows written', fig(st.gateway)));
  console.log(line('  website.apply (HTTP vhost): queue, handler', { queueP50Ms: st.applyQueue.p50, handlerP50Ms: st.apply.p50 }));
  console.log(line('  cert.issue: queue, handler', { queueP50Ms: st.certQueue.p50, handlerP50Ms: st.cert.p50 }));
  console.log(
    line('    certbot (its log), of it DNS propagation', {
      certbotP50Ms: st.certbot.p50,
      propagationP50Ms: st.propagation.p50,
      restOfHandlerP50Ms: st.certOther.p50,
    }),
  );
  console.log(line('  gap: cert.issue done → HTTPS apply written', fig(st.certToFollowUp)));
  console.log(line('  website.apply (HTTPS vhost): queue, handler', { queueP50Ms: st.httpsQueue.p50, handlerP50Ms: st.httpsApply.p50 }));
  console.log(line('  answer: HTTPS apply done → curl verifies', fig(st.answer)));
  console.log(
    line('  raw, same issuer: cert.issue alone (no pipeline)', {
      p50Ms: https.issue.total.p50,
      certbotP50Ms: st.rawCertbot.p50,
      certbotVersionP50Ms: st.rawCertbotVersion.p50,
    }),
  );
  const inPipeline = new Map(https.pipelineCalls);
  for (const [label, ms] of https.issue.calls)
    console.log(line(`    ${label}`, { p50Ms: round(ms, 1), inPipelineP50Ms: round(inPipeline.get(label) ?? NaN, 1) }));
}

/** What one executor call was, in words: the handlers' SSH round trips, told apart by their commands. */
function callLabel(method: string, arg: unknown): string {
  if (method === 'putFile' || method === 'readFile') return `${method} ${String(arg).split('/').slice(-2).join('/').replace(/\d+/g, 'N')}`;
  const text = (Array.isArray(arg) ? arg : [arg]).map((c: Command) => c.text).join('\n');
  if (/certbot certonly/.test(text)) return 'certbot certonly (runScript)';
  if (/reload_and_wait\(\)/.test(text) && / -t 2>/.test(text)) return 'nginx -t + reload + wait for old workers';
  if (/reload_and_wait\(\)/.test(text)) return 'reload + wait for old workers';
  if (/ -t$/.test(text.trim())) return 'nginx -t';
  if (/echo none/.test(text)) return 'read state and current file';
  if (/echo wildcard/.test(text)) return 'installed certificates';
  if (/^\[ -f .*nginx\.conf'? \]$/.test(text.trim())) return 'proxy config present';
  if (/kill -0 "\$pid"$/.test(text.trim())) return 'nginx running?';
  const first = text.split('\n').find((l) => l && l !== 'set -eu' && l !== '{') ?? text;
  return `${method} ${first.replace(/'[^']*'/g, '…').slice(0, 32)}`;
}

/** The executor with every call timed into `calls` (a lock: waiting for it and giving it back). */
function traced(exec: Executor, calls: [string, number, number?][]): Executor {
  return new Proxy(exec, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'withLock')
        return async <T>(name: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T> => {
          const asked = performance.now();
          let done = 0;
          const out = await target.withLock(
            name,
            async () => {
              calls.push([`lock ${name.split('-')[0]}`, performance.now() - asked, asked]);
              try {
                return await fn();
              } finally {
                done = performance.now();
              }
            },
            opts,
          );
          calls.push([`unlock ${name.split('-')[0]}`, performance.now() - done, done]);
          return out;
        };
      if (typeof prop === 'string' && ['run', 'runScript', 'putFile', 'readFile'].includes(prop))
        return async (...args: unknown[]) => {
          const t = performance.now();
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            calls.push([callLabel(prop, args[0]), performance.now() - t, t]);
          }
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Runs `work` `runs` times with a traced connect; p50 of each call (summed within a run), in the order they came. */
async function handlerCalls(
  connector: HostConnector,
  runs: number,
  work: (connect: (h: HostRef) => Executor, i: number) => Promise<unknown>,
): Promise<{ total: { p50: number; p99: number }; calls: [string, number][] }> {
  const perRun: Map<string, number>[] = [];
  const totals: number[] = [];
  for (let i = 0; i < runs; i++) {
    const calls: [string, number, number?][] = [];
    const t = performance.now();
    await work((h) => traced(connector.connect(h), calls), i);
    totals.push(performance.now() - t);
    const sums = new Map<string, number>();
    for (const [label, ms] of calls) sums.set(label, (sums.get(label) ?? 0) + ms);
    perRun.push(sums);
  }
  const labels = [...new Set(perRun.flatMap((m) => [...m.keys()]))];
  return { total: summary(totals), calls: labels.map((l) => [l, summary(perRun.map((m) => m.get(l) ?? 0)).p50]) };
}

const handlerCtx = (connect: (h: HostRef) => Executor) => ({
  signal: new AbortController().signal,
  log: pino({ level: 'silent' }),
  job: { id: randomUUID(), attempt: 1, tenant: null, actor: 'bench', target: null },
  connect,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function addOneAtSize(host: LabHost, dir: string, size: number, runs: number) {
  const layout = { group: 'bench', baseDir: dir, httpPort: PORT, nginxUser: 'www-data', ipv6: false };
  for (let i = 0; i < size; i++) writeFileSync(`${dir}/vhosts/fill${i}-admin.conf`, renderVhost(layout, spec(`fill${i}-admin`)));
  const connector = new HostConnector(host.privateKeyFile);
  const exec = connector.connect(hostRef(host));
  const nginx = sh`nginx -e ${`${dir}/logs/error.log`} -c ${`${dir}/nginx.conf`}`;
  try {
    await exec.run(sh`${nginx} -s reload`);
    await sleep(500);
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await exec.run(sh`${nginx} -t 2>/dev/null && ${nginx} -s reload`);
      raw.push(performance.now() - started);
    }
    const add: number[] = [];
    const ctx = (id: string) => ({
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
      job: { id, attempt: 1, tenant: null, actor: 'bench', target: null },
      connect: (h: HostRef) => connector.connect(h),
    });
    for (let i = 0; i < runs; i++) {
      const payload = { host: hostRef(host), layout, site: spec(`new${size}x${i}-admin`) };
      const started = performance.now();
      await websiteApplyHandler.run(payload, ctx(randomUUID()));
      add.push(performance.now() - started);
    }
    const rawP50 = percentiles(raw).p50;
    const addP50 = percentiles(add).p50;
    return { sites: size, rawTestReloadMs: round(rawP50, 1), addSiteMs: round(addP50, 1), ratio: round(addP50 / rawP50, 2) };
  } finally {
    await exec.run(sh`rm -f ${`${dir}/vhosts`}/fill*.conf`).catch(() => undefined);
    await connector.close();
  }
}

export async function benchWebsites(options: { sizes?: number[]; runs?: number } = {}) {
  const sizes = options.sizes ?? (process.env.UP_BENCH_WEB_SIZES ?? '1000').split(',').map(Number);
  const runs = options.runs ?? 5;
  const lab = await labHosts(1, { prefix: 'up-webb', subnet: '10.77.27', bridge: 'uplab27' });
  const [host] = lab.hosts;
  process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
  const [nginx] = await labNginx([host], PORT);
  try {
    const answer = await requestToAnswer(host, nginx.dir, 10);
    console.log(
      line('website: request → answering through nginx (one site)', {
        p50Ms: round(answer.p50, 1),
        p99Ms: round(answer.p99, 1),
        goalP50Ms: 1000,
      }),
    );
    const raw = await rawSteps(host, nginx.dir, 10);
    const st = answer.stages;
    const fig = (s: { p50: number; p99: number }, extra: Record<string, number> = {}) => ({ p50Ms: s.p50, p99Ms: s.p99, ...extra });
    console.log(line('  gateway: request sent → job row written', fig(st.gateway, { replyP50Ms: st.reply.p50 })));
    console.log(line('  queue: job row → handler started', fig(st.queue)));
    console.log(
      line(
        '  handler: website.apply (SSH, nginx -t, reload)',
        fig(st.handler, { rawTestReloadP50Ms: round(raw.nginxTest.p50 + raw.reload.p50, 1) }),
      ),
    );
    console.log(line('  recorder: handler done → outcome on the row', fig(st.recorder)));
    console.log(line('  answer: handler done → curl gets the site', fig(st.answer)));
    console.log(line('  raw, same host and SSH path: SSH connect+true', fig(raw.sshConnect)));
    console.log(line('  raw: command on the open SSH connection', fig(raw.sshCommand)));
    console.log(line('  raw: nginx -t', fig(raw.nginxTest)));
    console.log(line('  raw: nginx -s reload', fig(raw.reload)));
    console.log(
      line('  raw: write vhost, -t, reload, until it answers', fig(raw.byHand, { vsPipelineP50: round(answer.p50 / raw.byHand.p50, 2) })),
    );
    console.log(line('  raw: website.apply alone (no pipeline)', { p50Ms: raw.apply.total.p50, p99Ms: raw.apply.total.p99 }));
    for (const [label, ms] of raw.apply.calls) console.log(line(`    ${label}`, { p50Ms: round(ms, 1) }));
    const scale = [];
    for (const size of sizes) {
      const figures = await addOneAtSize(host, nginx.dir, size, runs);
      console.log(line(`website: add one site to ${size} (incremental) vs raw nginx -t + reload`, { ...figures, goalRatio: 2 }));
      scale.push(figures);
    }
    // HTTPS on a nginx of its own (the first one's configuration holds the plain-HTTP group).
    await nginx.down();
    const httpsRuns = Number(process.env.UP_BENCH_WEB_HTTPS_RUNS ?? 3);
    const https = httpsRuns > 0 ? await httpsToAnswer(host, httpsRuns) : null;
    if (https) printHttps(https);
    return { requestToAnswerMs: { p50: answer.p50, p99: answer.p99, stages: answer.stages, raw }, scale, httpsToAnswerMs: https };
  } finally {
    await nginx.down().catch(() => undefined);
    await lab.down();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchWebsites()));
}
