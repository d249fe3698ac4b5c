/**
 * The one writer of up's nginx on a proxy host: every change goes through `applyConfig`,
 * which puts a file in place, validates the whole configuration with `nginx -t`, restores the
 * previous file when validation fails (nginx keeps serving the old configuration, and the job
 * fails with nginx's own words), and reloads. Callers hold `withNginxLock`.
 */
import { createHash } from 'node:crypto';
import { sh, script, type Command, type Executor } from '../lib/exec/index.ts';
import { PermanentError, SupersededError } from '../queues/errors.ts';

export function nginxPaths(baseDir: string) {
  return {
    baseDir,
    conf: `${baseDir}/nginx.conf`,
    errorLog: `${baseDir}/logs/error.log`,
    pid: `${baseDir}/nginx.pid`,
    vhosts: `${baseDir}/vhosts`,
    www: `${baseDir}/www`,
    acme: `${baseDir}/acme`,
    auth: `${baseDir}/auth`,
    state: `${baseDir}/state`,
    logs: `${baseDir}/logs`,
    tmp: `${baseDir}/tmp`,
  };
}
export type NginxPaths = ReturnType<typeof nginxPaths>;

/** One lock per nginx instance (a host may run several base dirs; /run/lock is per host). */
export function withNginxLock<T>(exec: Executor, baseDir: string, fn: () => Promise<T>): Promise<T> {
  const id = createHash('sha256').update(baseDir).digest('hex').slice(0, 12);
  return exec.withLock(`nginx-${id}`, fn);
}

/** Creates the layout: config, state and auth private to root; www traversable; acme readable. */
export async function ensureLayout(exec: Executor, paths: NginxPaths): Promise<void> {
  await exec.run(layoutCommand(paths));
}

/** The nginx command line for one base dir (its own error log and configuration). */
export const nginxCmd = (paths: NginxPaths) => sh`nginx -e ${paths.errorLog} -c ${paths.conf}`;

/**
 * `nginx -s reload` only signals the master and returns; for a while the old workers still
 * answer with the old configuration. A job that says "applied" must mean the host serves it,
 * so this waits (up to 5 s) until the master's old children have left, which happens only
 * after it started workers on the new configuration. If no new worker appears at all, the
 * master refused the new configuration at reload (a port it cannot bind, say): exit 4.
 * Expects the master's pid in `$pid`.
 */
function defineReloadAndWait(paths: NginxPaths): Command[] {
  return [
    sh`reload_and_wait() {`,
    sh`  old=$(ps -o pid= --ppid "$pid" | tr -d ' ')`,
    sh`  ${nginxCmd(paths)} -s reload`,
    sh`  i=0`,
    sh`  while [ $i -lt 100 ]; do`,
    sh`    stale=no; for p in $old; do if [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$pid" ]; then stale=yes; fi; done`,
    sh`    [ $stale = no ] && break`,
    sh`    i=$((i + 1)); sleep 0.05`,
    sh`  done`,
    sh`  fresh=no; for p in $(ps -o pid= --ppid "$pid"); do case " $(echo $old) " in *" $p "*) ;; *) fresh=yes ;; esac; done`,
    sh`  if [ $fresh = no ]; then tail -n 5 ${paths.errorLog} >&2; exit 4; fi`,
    sh`}`,
  ];
}

/** Runs `nginx -t`; returns nginx's complaint (its stderr, trimmed to the essential lines) or null. */
export async function testConfig(exec: Executor, paths: NginxPaths): Promise<string | null> {
  const result = await exec.run(sh`${nginxCmd(paths)} -t`, { okExitCodes: [0, 1] });
  if (result.exitCode === 0) return null;
  const lines = result.stderr.split('\n').filter((line) => line.includes('[emerg]') || line.includes('[alert]') || line.includes('failed'));
  return (lines.length ? lines : [result.stderr.trim()]).join('\n').slice(0, 2000);
}

/** Reloads a running nginx, or starts it; returns whether it had to be started. */
export async function reloadOrStart(exec: Executor, paths: NginxPaths): Promise<boolean> {
  const result = await exec.runScript(
    script(
      ...defineReloadAndWait(paths),
      sh`if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then`,
      sh`  reload_and_wait; echo reloaded`,
      sh`else`,
      sh`  ${nginxCmd(paths)}; echo started`,
      sh`fi`,
    ),
    { okExitCodes: [0, 4] },
  );
  if (result.exitCode === 4) {
    throw new PermanentError(`nginx could not load the configuration (the previous one stays active): ${essential(result.stderr)}`, { code: 'NGINX_INVALID' });
  }
  return result.stdout.trim().endsWith('started');
}

export async function isRunning(exec: Executor, paths: NginxPaths): Promise<boolean> {
  const result = await exec.run(sh`pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid"`, { okExitCodes: [0, 1, 2] });
  return result.exitCode === 0;
}

export interface ConfigChange {
  /** The file to write (nginx.conf or a vhost). */
  file: string;
  content: string;
  mode?: number;
  /** Whose generation the state file keeps (`proxy`, a site id). */
  resource: string;
  generation: number;
  /** Commands run before validation, once the generation is known to be current (document roots, ...). */
  prepare?: Command[];
}

/**
 * Converges one config file in few round trips (the benchmark counts them): one script makes
 * the layout, reads the applied generation and the current file; putFile writes the new one;
 * one script validates, reloads (or starts) and records the generation. On a failed `nginx -t`
 * the previous file comes back (or the new one goes) and the job fails with nginx's words.
 */
export async function applyConfig(exec: Executor, paths: NginxPaths, change: ConfigChange): Promise<{ changed: boolean; started: boolean }> {
  const state = stateFile(paths, change.resource);
  const before = await exec.runScript(
    script(
      layoutCommand(paths),
      sh`cat ${state} 2>/dev/null || echo none`,
      sh`if [ -f ${change.file} ]; then base64 -w0 < ${change.file}; fi`,
    ),
  );
  const [applied, previousB64 = ''] = before.stdout.split('\n');
  if (/^[0-9]+$/.test(applied) && Number(applied) > change.generation) {
    throw new SupersededError(`${exec.host} already applied generation ${applied} of ${change.resource} (this message carries ${change.generation})`);
  }
  const previous = previousB64 ? Buffer.from(previousB64, 'base64') : null;
  const { changed } = await exec.putFile(change.file, change.content, { mode: change.mode ?? 0o600, owner: 'root', group: 'root' });
  const outcome = await exec.runScript(
    script(
      ...defineReloadAndWait(paths),
      ...(change.prepare ?? []),
      sh`running=no; if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then running=yes; fi`,
      sh`if [ ${changed ? 'yes' : 'no'} = no ] && [ "$running" = yes ]; then :; else`,
      sh`  if ! ${nginxCmd(paths)} -t 2>${paths.tmp}/test.err; then cat ${paths.tmp}/test.err >&2; exit 3; fi`,
      sh`  if [ "$running" = yes ]; then reload_and_wait; else ${nginxCmd(paths)}; echo started; fi`,
      sh`fi`,
      sh`printf '%s\n' ${change.generation} > ${state}.tmp && mv -f ${state}.tmp ${state}`,
    ),
    { okExitCodes: [0, 3, 4] },
  );
  if (outcome.exitCode !== 0) {
    if (previous !== null) await exec.putFile(change.file, previous);
    else await exec.run(sh`rm -f -- ${change.file}`);
    const verb = outcome.exitCode === 3 ? 'rejected' : 'could not load';
    throw new PermanentError(`nginx ${verb} the configuration (the previous one stays active): ${essential(outcome.stderr)}`, { code: 'NGINX_INVALID' });
  }
  return { changed, started: outcome.stdout.includes('started') };
}

function essential(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.includes('[emerg]') || line.includes('[alert]') || line.includes('failed'));
  return (lines.length ? lines : [stderr.trim()]).join('\n').slice(0, 2000);
}

function layoutCommand(paths: NginxPaths): Command {
  return sh`install -d -m 0755 ${paths.baseDir} ${paths.www} ${paths.acme} ${paths.logs} && install -d -m 0700 ${paths.vhosts} ${paths.state} ${paths.tmp} && install -d -m 0750 ${paths.auth}`;
}

/** Removes a file, validates, reloads; idempotent (a missing file is already removed). */
export async function removeConfig(exec: Executor, paths: NginxPaths, file: string, firstLine?: string): Promise<boolean | 'foreign'> {
  const previous = await exec.readFile(file);
  if (previous === null) return false;
  // The name was reused by a newer resource since: its file is not ours to remove.
  if (firstLine !== undefined && !previous.toString('utf8').startsWith(firstLine)) return 'foreign';
  await exec.run(sh`rm -f -- ${file}`);
  const complaint = await testConfig(exec, paths);
  if (complaint !== null) {
    await exec.putFile(file, previous, { mode: 0o600, owner: 'root', group: 'root' });
    throw new PermanentError(`nginx rejected the configuration without this file (restored): ${complaint}`, { code: 'NGINX_INVALID' });
  }
  if (await isRunning(exec, paths)) await reloadOrStart(exec, paths);
  return true;
}

/**
 * The generation this host last applied for a resource (a state file that survives deletes,
 * so a late apply of a deleted site cannot bring it back). Newer on the host → superseded.
 */
export async function checkGeneration(exec: Executor, paths: NginxPaths, resource: string, generation: number): Promise<void> {
  const text = (await exec.readFile(stateFile(paths, resource)))?.toString('utf8').trim();
  const applied = text && /^[0-9]+$/.test(text) ? Number(text) : null;
  if (applied !== null && applied > generation) {
    throw new SupersededError(`${exec.host} already applied generation ${applied} of ${resource} (this message carries ${generation})`);
  }
}

export async function recordGeneration(exec: Executor, paths: NginxPaths, resource: string, generation: number): Promise<void> {
  await exec.putFile(stateFile(paths, resource), `${generation}\n`, { mode: 0o600, owner: 'root', group: 'root' });
}

function stateFile(paths: NginxPaths, resource: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{0,100}$/.test(resource)) throw new PermanentError(`invalid state name ${resource}`);
  return `${paths.state}/${resource}.generation`;
}
