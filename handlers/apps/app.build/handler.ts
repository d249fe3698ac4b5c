import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentStoreDir } from '../../../lib/config.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { CommandError } from '../../../lib/exec/errors.ts';
import { script, sh, type ExecResult, type Executor } from '../../../lib/exec/index.ts';
import { appBuild, LOG_TAIL_BYTES } from '../../../queues/apps/ops.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { DEFAULT_CAPABILITIES, LABEL_MANAGED } from '../../containers/podman.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import { buildDir } from '../paths.ts';

/** The static files the proxies get: more than this is not static files. */
const MAX_STATIC_BYTES = 32 * 1024 * 1024;
const RANGE = 65536;

const tail = (text: string) => (text.length > LOG_TAIL_BYTES ? `…${text.slice(-LOG_TAIL_BYTES)}` : text);

/**
 * The build: the source (checked by the gateway: files and directories only, safe names) goes on
 * stdin to tar into a fresh context directory, the template's Containerfile beside it, and
 * `podman build` runs with no network and no image pulls (the base is on the host). Templates'
 * Containerfiles have no RUN step: a build runs as root, so nothing of the tenant's executes in
 * it (what must run their code, collecting static files, runs after it in their id range). An
 * image of this content already here is kept: its tag is the content hash. Then the static
 * directory is collected and copied out, stripped to files and directories, and handed to the
 * gateway as a tar.gz in the content store.
 */
export async function buildApp(payload: PayloadOf<typeof appBuild>, ctx: HandlerContext): Promise<ResultOf<typeof appBuild>> {
  const { host, app, archive, image } = payload;
  const source = await readFile(join(contentStoreDir(), `${archive.sha256}.tar.gz`)).catch(() => null);
  if (!source) throw new PermanentError(`archive ${archive.sha256} is not in the content store (${contentStoreDir()})`);
  if (createHash('sha256').update(source).digest('hex') !== archive.sha256)
    throw new PermanentError(`archive ${archive.sha256} does not match its checksum`);
  const exec = ctx.connect(host);
  return exec.withLock(`app-${app.id}`, async () => {
    const dir = buildDir(app.key);
    const exists = (await exec.run(sh`podman image exists ${image}`, { okExitCodes: [0, 1], signal: ctx.signal })).exitCode === 0;
    let log = `image ${image} is already built`;
    if (!exists) log = await build(exec, payload, dir, source, ctx);
    const collected = payload.staticDir ? await collectStatic(exec, payload, dir, ctx) : null;
    ctx.log.info({ host: exec.host, app: app.key, image, built: !exists }, 'app built');
    return {
      host: exec.host,
      image,
      built: !exists,
      staticArchive: collected?.archive ?? null,
      log: tail(`${log}${collected?.log ?? ''}`),
    };
  });
}

async function build(
  exec: Executor,
  payload: PayloadOf<typeof appBuild>,
  dir: string,
  source: Buffer,
  ctx: HandlerContext,
): Promise<string> {
  const { app, image, containerfile } = payload;
  const context = `${dir}/context`;
  await exec.run(
    sh`rm -rf ${dir} && install -d -m 0700 ${dir} ${context} && tar -xzf - -C ${context} --no-same-owner --no-same-permissions`,
    { stdin: source, signal: ctx.signal, timeoutMs: 120_000 },
  );
  await exec.runScript(sh`find ${context} -mindepth 1 ! -type f ! -type d -delete`, { signal: ctx.signal });
  await exec.putFile(`${dir}/Containerfile`, containerfile, { mode: 0o600 });
  try {
    const out = await exec.run(
      sh`podman build --pull=never --network none --label ${`${LABEL_MANAGED}=true`} --label ${`up.owner=${app.tenant.name}`} --label ${`up.app=${app.id}`} --tag ${image} --file ${`${dir}/Containerfile`} ${context} 2>&1`,
      { signal: ctx.signal, timeoutMs: 840_000 },
    );
    return tail(out.stdout);
  } catch (error) {
    if (error instanceof CommandError)
      throw new PermanentError(`the build failed:\n${tail(`${error.stdout ?? ''}${error.stderr ?? ''}`)}`, { code: 'BUILD_FAILED' });
    throw error;
  } finally {
    await exec.run(sh`rm -rf ${context}`, { signal: ctx.signal }).catch(() => undefined);
  }
}

/**
 * The image's static directory as `static/…` in a tar.gz, written to the content store under a
 * temporary name. When the template collects them (Django's collectstatic imports the project:
 * the tenant's code), that runs first in a container of the image as the app's replicas run:
 * the tenant's id range, capabilities dropped, no network, limits; the files are copied out of it.
 */
async function collectStatic(exec: Executor, payload: PayloadOf<typeof appBuild>, dir: string, ctx: HandlerContext) {
  const { image, app, collect } = payload;
  const staticDir = payload.staticDir!.replace(/\/$/, '');
  const out = `${dir}/static-out`;
  const name = `up-collect-${app.key}`;
  const map = `0:${app.tenant.subidStart}:${RANGE}`;
  const env = Object.entries(collect?.env ?? {}).map(([k, v]) => sh`--env ${`${k}=${v}`}`);
  let collected = '';
  let copied: ExecResult;
  try {
    if (collect) {
      // The output goes through a file: what explains a failure is its last lines (a traceback's error).
      const log = `${dir}/collect.log`;
      const ran = await exec.runScript(
        script(
          sh`rc=0; podman run --replace --name ${name} --pull=never --network none --uidmap ${map} --gidmap ${map} --cap-drop all --cap-add ${DEFAULT_CAPABILITIES.join(',')} --security-opt no-new-privileges --memory 512m --pids-limit 256 --label ${`${LABEL_MANAGED}=true`} --label ${`up.owner=${app.tenant.name}`} ${env.length ? env.reduce((all, e) => sh`${all} ${e}`) : sh``} ${image} ${collect.command} > ${log} 2>&1 || rc=$?`,
          sh`tail -c 8000 ${log}; rm -f ${log}; echo; echo "exit $rc"`,
        ),
        { signal: ctx.signal, timeoutMs: 300_000 },
      );
      const exit = /exit (\d+)\s*$/.exec(ran.stdout);
      if (!exit || exit[1] !== '0')
        throw new PermanentError(`collecting the static files failed:\n${tail(ran.stdout.replace(/\nexit \d+\s*$/, ''))}`, {
          code: 'COLLECT_FAILED',
        });
      collected = ran.stdout.replace(/\nexit \d+\s*$/, '');
    } else await exec.run(sh`podman create --replace --name ${name} --pull=never ${image} true >/dev/null`, { signal: ctx.signal });
    copied = await exec.runScript(
      script(
        sh`rm -rf ${out} && install -d -m 0700 ${out}`,
        sh`if podman cp ${`${name}:${staticDir}/.`} ${`${out}/static`} 2>/dev/null; then :; else install -d ${`${out}/static`}; fi`,
        sh`find ${out} -mindepth 1 ! -type f ! -type d -delete`,
        sh`du -sb ${out} | cut -f1`,
      ),
      { signal: ctx.signal, timeoutMs: 120_000 },
    );
  } finally {
    await exec.run(sh`podman rm -f ${name} >/dev/null 2>&1 || true`).catch(() => undefined);
  }
  const expandedBytes = Number(copied.stdout.trim().split('\n').at(-1)) || 0;
  if (expandedBytes > MAX_STATIC_BYTES)
    throw new PermanentError(`the static files in ${staticDir} take ${expandedBytes} bytes, more than ${MAX_STATIC_BYTES}`);
  const packed = await exec.runScript(
    script(sh`tar --format=ustar --owner=0 --group=0 -czf - -C ${out} static | base64 -w0`, sh`rm -rf ${out}`),
    { signal: ctx.signal, timeoutMs: 120_000 },
  );
  const gz = Buffer.from(packed.stdout.trim(), 'base64');
  // A temporary name: the store's collector spares it until the gateway places it (or long after a crash).
  const temp = `.upload-${randomUUID()}.tmp`;
  await mkdir(contentStoreDir(), { recursive: true, mode: 0o700 });
  await writeFile(join(contentStoreDir(), temp), gz, { mode: 0o600, flag: 'wx' });
  return {
    archive: { temp, sha256: createHash('sha256').update(gz).digest('hex'), bytes: gz.length, expandedBytes },
    log: collected ? `\n${collected}` : '',
  };
}

export default defineHandler({ op: appBuild, run: buildApp });
