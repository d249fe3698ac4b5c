/**
 * Websites on real nginx, on a lab proxy host of its own:
 * - request → answering: from `POST /v1/websites` until the new site answers through nginx
 *   at its temporary subdomain (the whole pipeline: gateway, job, handler over SSH, reload);
 * - adding one site to a proxy that already holds N sites (only the new vhost is written)
 *   next to the raw `nginx -t` + reload at that size on the same host, and their ratio.
 * Run directly (as root): node --import tsx bench/websites.ts   (UP_BENCH_WEB_SIZES=1000,10000)
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { HostConnector } from '../handlers/connector.ts';
import websiteApplyHandler from '../handlers/website.apply/handler.ts';
import { renderVhost } from '../handlers/website.apply/view.ts';
import { sh } from '../lib/exec/command.ts';
import type { HostRef } from '../queues/host-ref.ts';
import { labHosts, type LabHost } from '../test/helpers/lab-hosts.ts';
import { curlSite, labNginx } from '../test/helpers/lab-nginx.ts';
import { startStack } from '../test/helpers/stack.ts';
import { line, percentiles, round } from './stats.ts';

const PORT = 80;
const WILDCARD = 'bench.web.test';

const hostRef = (host: LabHost): HostRef => ({ name: host.name, address: host.address, port: host.port, user: host.user, hostKeySha256: host.hostKeySha256 });

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

async function requestToAnswer(host: LabHost, dir: string, runs: number): Promise<{ p50: number; p99: number }> {
  const stack = await startStack();
  try {
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${stack.url}${path}`, { method, headers: { ...stack.auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());
    await stack.database!.knex('hosts').insert({
      id: randomUUID(), name: host.name, address: host.address, port: host.port, ssh_user: host.user, host_key_sha256: host.hostKeySha256, roles: ['proxy'],
    });
    await api('POST', '/v1/proxies', { name: 'bench', wildcardDomain: WILDCARD, addresses: [host.address] });
    const joined = (await api('POST', '/v1/proxies/bench/hosts', { host: host.name, baseDir: dir })) as { jobs: { id: string }[] };
    for (const job of joined.jobs) while (!['succeeded', 'failed', 'dead'].includes(((await api('GET', `/v1/jobs/${job.id}`)) as { status: string }).status)) await sleep(20);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const created = (await api('POST', '/v1/websites', { name: `r${i}`, proxy: 'bench' })) as { website: { tempDomain: string } };
      const name = created.website.tempDomain;
      for (;;) {
        const answer = await curlSite(name, host.address, PORT);
        if (answer.body !== 'no such site\n') break;
        await sleep(10);
      }
      samples.push(performance.now() - started);
    }
    return percentiles(samples);
  } finally {
    await stack.shutdown();
  }
}

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
    console.log(line('website: request → answering through nginx (one site)', { p50Ms: round(answer.p50, 1), p99Ms: round(answer.p99, 1), goalP50Ms: 1000 }));
    const scale = [];
    for (const size of sizes) {
      const figures = await addOneAtSize(host, nginx.dir, size, runs);
      console.log(line(`website: add one site to ${size} (incremental) vs raw nginx -t + reload`, { ...figures, goalRatio: 2 }));
      scale.push(figures);
    }
    return { requestToAnswerMs: { p50: round(answer.p50, 1), p99: round(answer.p99, 1) }, scale };
  } finally {
    await nginx.down().catch(() => undefined);
    await lab.down();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchWebsites()));
}
