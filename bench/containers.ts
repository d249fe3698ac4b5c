/**
 * Containers on real podman, on a lab host of their own:
 * - request → answering: from `POST /v1/containers` until the container answers HTTP on its
 *   published port (gateway, job, tenant.provision, container.apply over SSH, podman), next to
 *   a raw `podman run` of the same image and command over SSH on the same host;
 * - `up`'s own processes per idle container on the host (none: podman's conmon is the only
 *   per-container process), and conmon's memory, for scale;
 * - converging N unchanged specs (container.apply of each, as a replayed or repeated job does),
 *   which should be a check (one round trip each), far below N creates.
 * Run directly (as root): node --import tsx bench/containers.ts   (UP_BENCH_CTR_RUNS=5, UP_BENCH_CTR_SPECS=100)
 */
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { containerApplyOf } from '../gateway/containers/plans.ts';
import type { ContainerRow } from '../gateway/containers/store.ts';
import { createToken } from '../gateway/users/token-store.ts';
import { createUser, setUserLimits } from '../gateway/users/store.ts';
import { applyContainer } from '../handlers/containers/container.apply/handler.ts';
import { HostConnector } from '../handlers/runtime/connector.ts';
import type { HandlerContext } from '../handlers/runtime/define.ts';
import { labHosts } from '../test/helpers/lab-hosts.ts';
import { BUSYBOX_IMAGE, importBusybox, onHost, PODMAN_PRIVATE_DIRS, removeContainers } from '../test/helpers/podman-lab.ts';
import { startStack } from '../test/helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../test/helpers/unix-users.ts';
import { line, percentiles, round } from './stats.ts';

const TENANT = 'benchctr';
/** Unchanged specs converged at once: below sshd's MaxSessions (10) per connection, two channels each. */
const CONVERGE_PARALLEL = 4;
const SERVE = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`];

async function answers(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function benchContainers(options: { runs?: number; specs?: number } = {}) {
  const runs = options.runs ?? Number(process.env.UP_BENCH_CTR_RUNS ?? 5);
  const specs = options.specs ?? Number(process.env.UP_BENCH_CTR_SPECS ?? 100);
  await removeUnixUsers([TENANT]);
  const lab = await labHosts(1, { prefix: 'up-bctr', subnet: '10.77.56', bridge: 'uplab56', privateDirs: PODMAN_PRIVATE_DIRS });
  const [host] = lab.hosts;
  process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
  const stack = await startStack();
  try {
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['containers'],
    });
    const user = (await createUser(db, { name: TENANT, role: 'user' }))!;
    await setUserLimits(db, user.id, { containers: specs + runs + 10, containerMemoryMb: 1_000_000, containerCpus: 100_000 });
    await isolateSubids(db, [TENANT]);
    const token = (
      await createToken(db, {
        userId: user.id,
        name: 'bench',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await res.json()) as Record<string, any>;
    };
    const adminApi = async (path: string) =>
      (await fetch(`${stack.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}` } })).json() as Promise<
        Record<string, any>
      >;
    const settle = async (id: string) => {
      for (;;) {
        const res = await fetch(`${stack.url}/v1/jobs/${id}?waitMs=20000`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
        const job = (await res.json()) as Record<string, any>;
        if (['succeeded', 'failed', 'dead', 'superseded'].includes(job.status)) return job;
      }
    };
    await settle((await adminApi(`/v1/hosts/${host.name}/prepare`)).id);
    for (;;) {
      const jobs = await (
        await fetch(`${stack.url}/v1/jobs?op=container.host.setup`, { headers: { authorization: `Bearer ${stack.adminToken}` } })
      ).json();
      if ((jobs as any).items[0]?.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await importBusybox(host);
    // Warm up: the tenant's Unix user, its network, the image's first use.
    const warm = await api('POST', '/v1/containers', {
      name: 'warm',
      image: BUSYBOX_IMAGE,
      command: SERVE('warm'),
      ports: [{ container: 8080 }],
    });
    for (const job of warm.jobs) await settle(job.id);

    const viaUp: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      let started = performance.now();
      const created = await api('POST', '/v1/containers', {
        name: `run${i}`,
        image: BUSYBOX_IMAGE,
        command: SERVE(`up${i}`),
        ports: [{ container: 8080 }],
      });
      await answers(`http://${host.address}:${created.container.ports[0].host}/`);
      viaUp.push(performance.now() - started);

      const port = 29_000 + i;
      started = performance.now();
      const cmd = SERVE(`raw${i}`)
        .map((w) => `'${w.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      await onHost(host, `podman run -d --name raw${i} --init -p ${host.address}:${port}:8080 ${BUSYBOX_IMAGE} ${cmd} >/dev/null`);
      await answers(`http://${host.address}:${port}/`);
      raw.push(performance.now() - started);
    }
    const up = percentiles(viaUp);
    const rawP = percentiles(raw);
    console.log(line('request → answering (up)', { p50: up.p50, p99: up.p99, runs }));
    console.log(line('raw podman run over SSH', { p50: rawP.p50, p99: rawP.p99 }));
    console.log(line('ratio (target ≤ 1.5× raw + 500 ms)', { ratio: round(up.p50 / rawP.p50), allowedMs: round(rawP.p50 * 1.5 + 500) }));

    // Per idle container on the host: processes of up (none), and podman's own conmon.
    const ps = await onHost(
      host,
      'ps -eo rss=,comm= | awk \'$2 == "conmon" { n++; kb += $1 } $2 ~ /^(node|up)$/ { ours++ } END { print n+0, kb+0, ours+0 }\'',
    );
    const [conmons, conmonKb, ours] = ps.trim().split(/\s+/).map(Number);
    console.log(
      line('per idle container on the host', {
        upProcesses: ours / Math.max(1, conmons),
        conmonKiB: round(conmonKb / Math.max(1, conmons), 0),
      }),
    );

    // N unchanged specs converge: create them (not measured), then apply each again.
    const many: string[] = [];
    for (let i = 0; i < specs; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, specs - i) }, (_, j) =>
          api('POST', '/v1/containers', {
            name: `idle${i + j}`,
            image: BUSYBOX_IMAGE,
            command: ['sleep', '100000'],
            limits: { memoryMb: 16 },
            restart: 'no',
          }),
        ),
      );
      for (const created of batch) {
        many.push(created.container.id);
        for (const job of created.jobs) await settle(job.id);
      }
    }
    const connector = new HostConnector(host.privateKeyFile);
    const log = pino({ level: 'silent' });
    const rows: ContainerRow[] = await db('containers').whereIn('id', many);
    const payloads = await Promise.all(rows.map((row) => containerApplyOf(db, row)));
    // As the handler pool runs them: a few at a time per host (each holds a lock channel and a command channel).
    const context = {
      signal: AbortSignal.timeout(300_000),
      log,
      job: { id: crypto.randomUUID(), attempt: 1, tenant: TENANT, actor: TENANT, target: null },
      connect: (h) => connector.connect(h),
    } as HandlerContext;
    const results: Awaited<ReturnType<typeof applyContainer>>[] = [];
    const queue = [...payloads];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONVERGE_PARALLEL }, async () => {
        for (let next = queue.shift(); next; next = queue.shift())
          results.push(await applyContainer(next.payload.host, next.payload.container, context));
      }),
    );
    const convergeMs = performance.now() - started;
    await connector.close();
    const changed = results.filter((r) => r.changed).length;
    console.log(
      line(`${specs} unchanged specs converge (target < 10 s)`, {
        ms: round(convergeMs, 0),
        changed,
        perSpecMs: round(convergeMs / specs),
      }),
    );
    return {
      requestToAnsweringMs: up,
      rawPodmanRunMs: rawP,
      upProcessesPerContainer: ours / Math.max(1, conmons),
      conmonKiBPerContainer: round(conmonKb / Math.max(1, conmons), 0),
      unchangedConvergeMs: round(convergeMs, 0),
      unchangedChanged: changed,
    };
  } finally {
    await stack.shutdown();
    await removeContainers(host);
    await lab.down();
    await removeUnixUsers([TENANT]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) console.log(JSON.stringify(await benchContainers()));
