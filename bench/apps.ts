/**
 * Apps (issue 16) on real nginx and podman, on a lab host of their own that is both the proxy
 * member and the containers host (test/helpers/app-lab.ts):
 * - `up apps deploy` of the small Django fixture until the new version answers through nginx,
 *   p50 over a few runs (each changes the source, so each really builds), split into upload
 *   (the CLI until the build job exists), build (the app.build job: podman build and
 *   collectstatic), start (until app.rollout found the new replica ready) and switch (until nginx
 *   answers with the new version); next to the same steps by hand over SSH on the same host:
 *   the context copied over, `podman build` of it with the same Containerfile, collectstatic into
 *   nginx's document root, `podman run` with the replicas' limits, waiting for it to answer, a vhost and `nginx -s reload`,
 *   waiting for nginx to answer with the new version. Target: within 1.3× the raw steps.
 * - requests per second of the app's page through nginx to one and to two replicas, next to the
 *   same requests to the replicas' published ports directly (keep-alive, N workers, a fixed
 *   time). Target: through nginx ≥ 0.8× direct.
 * A bench, not a test: it prints whether each target is met and asserts nothing.
 * Run directly (as root): node --import tsx bench/apps.ts
 *   (UP_BENCH_APP_RUNS=3, UP_BENCH_APP_SECONDS=5, UP_BENCH_APP_CONCURRENCY=16)
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_CONTAINER_LIMITS } from '../gateway/containers/store.ts';
import { loadAppTemplate, renderContainerfile } from '../lib/app-templates.ts';
import { appLab, type AppLab, type Json } from '../test/helpers/app-lab.ts';
import { buildDjangoBaseImage } from '../test/helpers/django-image.ts';
import { onHost } from '../test/helpers/podman-lab.ts';
import { runUp } from '../test/helpers/processes.ts';
import { ensureFreshCli } from './cli.ts';
import { line, percentiles, round } from './stats.ts';

const run = promisify(execFile);

const TENANT = 'bapalice';
const APP = 'blog';
const WILDCARD = 'p1.bench-apps.test';
const SITE = `${APP}-${TENANT}.${WILDCARD}`;
const RAW_SITE = 'raw.bench-apps.test';
const RAW_IMAGE = 'localhost/raw-bench-app';
const RAW_PORT = 29_500;
const FIXTURE = fileURLToPath(new URL('../test/fixtures/django-app/', import.meta.url));
const PHASES = ['upload', 'build', 'start', 'switch'] as const;
type Phases = Record<(typeof PHASES)[number] | 'total', number>;

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One GET with a Host header (a site by name at an address, as DNS would send a browser). */
function get(address: string, port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path, headers: { host }, agent, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the page at address:port (Host `host`) answers 200 with `text`; returns when. */
async function answers(address: string, port: number, host: string, text: string, timeoutMs = 180_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await get(address, port, host).catch(() => null);
    if (res?.status === 200 && res.body.includes(text)) return Date.now();
    if (Date.now() > deadline) throw new Error(`${host} at ${address}:${port} did not answer with ${text}`);
    await sleep(20);
  }
}

/** The fixture project at `version`, in a copy. */
function source(work: string, version: string): string {
  const dir = join(work, version);
  cpSync(FIXTURE, dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  return dir;
}

/**
 * Requests per second for `seconds`: `concurrency` workers on keep-alive connections, worker i
 * on target i mod n; a first second warms the connections up and is not counted.
 */
async function load(targets: { address: string; port: number }[], host: string, seconds: number, concurrency: number) {
  let counting = false;
  let ok = 0;
  let errors = 0;
  const why = new Map<string, number>();
  const latencies: number[] = [];
  const end = Date.now() + 1_000 + seconds * 1_000;
  setTimeout(() => (counting = true), 1_000);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const { address, port } = targets[i % targets.length];
      while (Date.now() < end) {
        const started = performance.now();
        const res = await get(address, port, host).catch((error: Error) => ({ status: 0, body: error.message }));
        if (!counting) continue;
        if (res.status === 200) {
          ok++;
          latencies.push(performance.now() - started);
        } else {
          errors++;
          const reason = res.status ? `HTTP ${res.status}` : res.body;
          why.set(reason, (why.get(reason) ?? 0) + 1);
        }
      }
    }),
  );
  if (why.size) console.log(`  errors: ${[...why].map(([reason, n]) => `${n}× ${reason}`).join(', ')}`);
  return { rps: round(ok / seconds, 0), errors, p50Ms: percentiles(latencies).p50, p99Ms: percentiles(latencies).p99 };
}

const meets = (ok: boolean) => (ok ? 'meets' : 'misses');

export async function benchApps(options: { runs?: number; seconds?: number; concurrency?: number } = {}) {
  const runs = options.runs ?? Number(process.env.UP_BENCH_APP_RUNS ?? 3);
  const seconds = options.seconds ?? Number(process.env.UP_BENCH_APP_SECONDS ?? 5);
  const concurrency = options.concurrency ?? Number(process.env.UP_BENCH_APP_CONCURRENCY ?? 16);
  // `up apps deploy` is timed from the CLI's start.
  await ensureFreshCli();
  const work = mkdtempSync(join(tmpdir(), 'up-bench-apps-'));
  let lab: AppLab | undefined;
  try {
    lab = await appLab({ prefix: 'up-bap', subnet: '10.77.87', bridge: 'uplab87', tenants: [TENANT], wildcard: WILDCARD });
    const { host, port: nginxPort } = lab;
    const nginxDir = lab.nginx[0].dir;
    const db = lab.stack.database!.knex;
    const api = lab.api(TENANT);
    const env = lab.env(TENANT);
    await buildDjangoBaseImage(host);
    await lab.succeeded(await api('POST', '/v1/apps', { name: APP, template: 'django', proxy: 'p1' }), TENANT);
    const appId: string = (await db('apps').where({ name: APP }).first('id')).id;

    const deployed = async () => {
      for (let i = 0; ; i++) {
        const { body } = await api('GET', `/v1/apps/${APP}`);
        if (body.deploy?.state === 'succeeded') return body;
        if (body.deploy?.state === 'failed' || i > 1_200) throw new Error(`the deploy ended ${JSON.stringify(body.deploy)}`);
        await sleep(100);
      }
    };
    /** Inside up's build and start: the handlers' own time (the rest is queues, the recorder, planning). */
    const details: Record<string, number>[] = [];
    /** `up apps deploy` of version `version` until nginx answers with it; its phases from its jobs. */
    const deployUp = async (version: string): Promise<Phases> => {
      const dir = source(work, version);
      const started = Date.now();
      const cli = await runUp(['apps', 'deploy', APP, dir, '--no-wait'], env);
      if (cli.code !== 0) throw new Error(`up apps deploy: ${cli.stderr}${cli.stdout}`);
      const answered = await answers(host.address, nginxPort, SITE, `django fixture ${version}`);
      await deployed();
      const build = await db('jobs')
        .where({ op: 'app.build', resource_id: appId })
        .where('created_at', '>=', new Date(started - 1_000))
        .orderBy('created_at', 'desc')
        .first();
      const rollout = await db('jobs')
        .where({ op: 'app.rollout', resource_id: appId, correlation_id: build.correlation_id })
        .orderBy('created_at', 'desc')
        .first();
      const at = (d: Date) => new Date(d).getTime();
      details.push({
        buildHandler: build.duration_ms,
        rolloutPlanned: at(rollout.created_at) - at(build.finished_at),
        rolloutHandler: rollout.duration_ms,
      });
      return {
        upload: at(build.created_at) - started,
        build: at(build.finished_at) - at(build.created_at),
        start: at(rollout.finished_at) - at(build.finished_at),
        switch: answered - at(rollout.finished_at),
        total: answered - started,
      };
    };

    // The same steps by hand, as root over SSH on the same host: what `up` is compared against.
    const rawDir = `${host.dir}/raw-app`;
    const containerfile = renderContainerfile(loadAppTemplate('django'), { name: APP })!;
    const collect = 'python3 manage.py collectstatic --noinput >/dev/null && rm -rf /out/static && cp -r /app/staticfiles /out/static';
    // The limits up gives each replica (a CPU share slows gunicorn's start): the same container, started by hand.
    const { memoryMb, cpus, pids } = DEFAULT_CONTAINER_LIMITS;
    const limits = `--memory ${memoryMb}m --cpus ${cpus} --pids-limit ${pids}`;
    const deployRaw = async (version: string, n: number): Promise<Phases> => {
      const dir = source(work, version);
      const image = `${RAW_IMAGE}:${version}`;
      const port = RAW_PORT + n;
      const started = Date.now();
      const { stdout: tgz } = await run('tar', ['--format=ustar', '-czf', '-', '-C', dir, '.'], { encoding: 'buffer', maxBuffer: 1 << 26 });
      await onHost(host, `rm -rf ${rawDir}/context && mkdir -p ${rawDir}/context && tar -xzf - -C ${rawDir}/context`, 120_000, tgz);
      const uploaded = Date.now();
      await onHost(host, `cat > ${rawDir}/Containerfile`, 120_000, containerfile);
      await onHost(
        host,
        `podman build --pull=never --network none -q --tag ${image} --file ${rawDir}/Containerfile ${rawDir}/context >/dev/null`,
        300_000,
      );
      await onHost(
        host,
        `mkdir -p ${nginxDir}/www/raw && podman run --rm --network none -v ${nginxDir}/www/raw:/out ${image} sh -c '${collect}'`,
        120_000,
      );
      const built = Date.now();
      await onHost(host, `podman run -d --name raw-app-${n} ${limits} -p ${host.address}:${port}:8000 ${image} >/dev/null`);
      const ready = await answers(host.address, port, RAW_SITE, `django fixture ${version}`);
      const vhost = [
        'server {',
        `    listen ${nginxPort};`,
        `    server_name ${RAW_SITE};`,
        `    root ${nginxDir}/www/raw;`,
        '    location ^~ /static/ { try_files $uri =404; }',
        '    location / {',
        `        proxy_pass http://${host.address}:${port};`,
        '        proxy_http_version 1.1;',
        '        proxy_set_header Host $host;',
        '    }',
        '}',
        '',
      ].join('\n');
      await onHost(host, `cat > ${nginxDir}/vhosts/raw-app.conf && nginx -c ${nginxDir}/nginx.conf -s reload`, 120_000, vhost);
      const answered = await answers(host.address, nginxPort, RAW_SITE, `django fixture ${version}`);
      // As up retires the release before (not timed on either side).
      if (n > 0) await onHost(host, `podman rm -f -t 0 raw-app-${n - 1} >/dev/null`);
      return {
        upload: uploaded - started,
        build: built - uploaded,
        start: ready - built,
        switch: answered - ready,
        total: answered - started,
      };
    };

    // Warm up both sides (first deploy of the app: no release to switch from; the base image's first use).
    await deployUp('warm');
    await deployRaw('rawwarm', 0);
    const ups: Phases[] = [];
    const raws: Phases[] = [];
    for (let i = 1; i <= runs; i++) {
      ups.push(await deployUp(`up${i}`));
      raws.push(await deployRaw(`raw${i}`, i));
    }
    const p50 = (all: Phases[]) =>
      Object.fromEntries(['total', ...PHASES].map((k) => [k, percentiles(all.map((p) => p[k as keyof Phases])).p50])) as Phases;
    const up = p50(ups);
    const raw = p50(raws);
    const deployRatio = round(up.total / raw.total);
    console.log(
      line(`up apps deploy → answers via nginx (p50 of ${runs})`, { ms: up.total, ...Object.fromEntries(PHASES.map((k) => [k, up[k]])) }),
    );
    const detail = Object.fromEntries(Object.keys(details[0]).map((k) => [k, percentiles(details.slice(1).map((d) => d[k])).p50]));
    console.log(line('  of which up handlers / recorder (p50)', detail));
    console.log(
      line(`raw: copy, build+collect, run (${cpus} CPU), reload`, { ms: raw.total, ...Object.fromEntries(PHASES.map((k) => [k, raw[k]])) }),
    );
    console.log(line('deploy ratio (target ≤ 1.3× raw)', { ratio: deployRatio, target: 1.3, result: meets(deployRatio <= 1.3) }));

    // Requests per second: one replica, then two, through nginx and to the published ports.
    const serving = async (): Promise<{ address: string; port: number }[]> =>
      (await api('GET', `/v1/apps/${APP}`)).body.serving.map((r: Json) => ({ address: host.address, port: r.port }));
    const rps: Record<string, Json> = {};
    for (const replicas of [1, 2]) {
      if (replicas > 1) {
        await lab.succeeded(await api('PATCH', `/v1/apps/${APP}`, { replicas }), TENANT);
        await deployed();
      }
      const direct = await serving();
      if (direct.length !== replicas) throw new Error(`${direct.length} replicas serve, not ${replicas}`);
      // Each replica answers directly and through nginx before the clock starts.
      const since = Date.now();
      for (const target of [...direct, { address: host.address, port: nginxPort }])
        await answers(target.address, target.port, SITE, 'django fixture', 60_000);
      if (Date.now() - since > 1_000) console.log(`  (the replicas took ${Date.now() - since} ms to answer before the load)`);
      const viaNginx = await load([{ address: host.address, port: nginxPort }], SITE, seconds, concurrency);
      const straight = await load(direct, SITE, seconds, concurrency);
      const ratio = round(viaNginx.rps / straight.rps);
      rps[`replicas${replicas}`] = { nginx: viaNginx, direct: straight, ratio };
      console.log(line(`req/s through nginx, ${replicas} replica${replicas > 1 ? 's' : ''}`, { ...viaNginx }));
      console.log(line(`req/s to the container${replicas > 1 ? 's' : ''} directly`, { ...straight }));
      console.log(line('  nginx / direct (target ≥ 0.8×)', { ratio, target: 0.8, result: meets(ratio >= 0.8) }));
    }
    return {
      runs,
      deployMs: up,
      deployDetailMs: detail,
      rawDeployMs: raw,
      deployRatio,
      deployTarget: 1.3,
      concurrency,
      seconds,
      rps,
      rpsTarget: 0.8,
    };
  } finally {
    await lab?.down();
    rmSync(work, { recursive: true, force: true });
    agent.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) console.log(JSON.stringify(await benchApps()));
