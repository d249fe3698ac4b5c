/**
 * The one writer of up's nginx on a proxy host: every change goes through `applyConfig`,
 * which puts a file in place, validates the whole configuration with `nginx -t`, restores the
 * previous file when validation fails (nginx keeps serving the old configuration, and the job
 * fails with nginx's own words), and reloads. Callers hold `withNginxLock`.
 */
import { createHash } from 'node:crypto';
import { and, sh, script, type Command, type Executor } from '../../lib/exec/index.ts';
import { PermanentError, RetryableError, SupersededError } from '../../lib/errors.ts';

/** `nginxUser`: the workers' user, group of what they must read (auth/, logs/); without it the layout keeps the groups it has. */
export function nginxPaths(baseDir: string, nginxUser?: string) {
  return {
    baseDir,
    nginxUser: nginxUser ?? null,
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

/**
 * A site's vhost only validates inside the group's nginx.conf, which proxy.apply writes. On a
 * member that just joined, the site's job can take the lock first (both are published at once):
 * that is a matter of time, not of the site, so it fails retryable before touching anything.
 */
export async function requireProxyConfig(exec: Executor, paths: NginxPaths): Promise<void> {
  const { exitCode } = await exec.run(sh`[ -f ${paths.conf} ]`, { okExitCodes: [0, 1] });
  if (exitCode !== 0) throw proxyNotReady(exec, paths);
}

function proxyNotReady(exec: Executor, paths: NginxPaths): RetryableError {
  return new RetryableError(`the proxy group's configuration is not on ${exec.host} yet (no ${paths.conf}); retrying`, {
    code: 'PROXY_NOT_READY',
  });
}

/** Creates the layout: config and state private to root; auth and logs for root and the workers' group; www traversable; acme readable. */
export async function ensureLayout(exec: Executor, paths: NginxPaths): Promise<void> {
  await exec.run(layoutCommand(paths));
}

/** The nginx command line for one base dir (its own error log and configuration). */
export const nginxCmd = (paths: NginxPaths) => sh`nginx -e ${paths.errorLog} -c ${paths.conf}`;

/** Starts the master with umask 027: every log file it creates from then on (reloads too) is 0640. */
const startCmd = (paths: NginxPaths) => sh`(umask 027 && ${nginxCmd(paths)})`;

/**
 * Log files are 0640 whoever created them: nginx creates them 0644 under a 022 umask (a master
 * up did not start, files from before), and access logs hold every visitor's address and URL.
 */
export const tightenLogs = (paths: NginxPaths) => sh`find ${paths.logs} -maxdepth 1 -type f -perm /0137 -exec chmod 0640 {} +`;

/**
 * `nginx -s reload` only signals the master and returns; for a while the old workers still
 * answer with the old configuration. A job that says "applied" must mean the host serves it,
 * so this waits (up to 5 s) until the master's old children have left, which happens only
 * after it started workers on the new configuration. If no new worker appears at all, the
 * master refused the new configuration at reload (a port it cannot bind, say): exit 4.
 * Expects the master's pid in `$pid`.
 *
 * The wait polls every 10 ms with shell builtins only: each old worker's /proc/<pid>/stat,
 * read by `read`, says whether it is still the master's child (its fourth field, the parent;
 * a pid reused by another process has another parent, and a name with spaces shifts the
 * fields off a number). A worker that has exited but is not yet reaped is still the master's
 * child there, as it was for `ps`. The master itself waits about 100 ms before it asks the old
 * workers to quit: that is the floor of this wait.
 */
export function defineReloadAndWait(paths: NginxPaths): Command[] {
  return [
    sh`reload_and_wait() {`,
    sh`  old=$(ps -o pid= --ppid "$pid" | tr -d ' ')`,
    sh`  ${nginxCmd(paths)} -s reload`,
    sh`  i=0`,
    sh`  while [ $i -lt 500 ]; do`,
    sh`    stale=no`,
    sh`    for p in $old; do`,
    sh`      if { read -r _ _ _ parent _ < "/proc/$p/stat"; } 2>/dev/null && [ "$parent" = "$pid" ]; then stale=yes; break; fi`,
    sh`    done`,
    sh`    [ $stale = no ] && break`,
    sh`    i=$((i + 1)); sleep 0.01`,
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
      sh`  ${startCmd(paths)}; echo started`,
      sh`fi`,
      tightenLogs(paths),
    ),
    { okExitCodes: [0, 4] },
  );
  if (result.exitCode === 4) {
    throw new PermanentError(`nginx could not load the configuration (the previous one stays active): ${essential(result.stderr)}`, {
      code: 'NGINX_INVALID',
    });
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

export interface ConfigTarget {
  file: string;
  resource: string;
  generation: number;
  /** Fail with PROXY_NOT_READY, before anything is touched, when the group's nginx.conf is not there (a site's vhost). */
  requireProxyConfig?: boolean;
  /** Read-only commands run in the same round trip, after the layout is made; their stdout comes back as `probe`. */
  probe?: Command[];
}

export interface ConfigState {
  /** The file as it is now (null: none), put back when the new one fails. */
  previous: Buffer | null;
  /** What `probe` printed. */
  probe: string;
}

const NOT_READY = 'proxy-not-ready';

/**
 * The first half of `applyConfig`, in one round trip: checks nginx.conf is there when asked,
 * makes the layout, reads the applied generation (newer → superseded) and the current file,
 * and runs the caller's read-only probe.
 */
export async function readConfigState(exec: Executor, paths: NginxPaths, target: ConfigTarget): Promise<ConfigState> {
  const state = stateFile(paths, target.resource);
  const before = await exec.runScript(
    script(
      ...(target.requireProxyConfig ? [sh`if [ ! -f ${paths.conf} ]; then echo ${NOT_READY}; exit 0; fi`] : []),
      layoutCommand(paths),
      sh`cat ${state} 2>/dev/null || echo none`,
      sh`if [ -f ${target.file} ]; then base64 -w0 < ${target.file}; fi; echo`,
      ...(target.probe ?? []),
    ),
  );
  const out = before.stdout;
  const first = out.indexOf('\n');
  if (out.slice(0, first) === NOT_READY) throw proxyNotReady(exec, paths);
  const second = out.indexOf('\n', first + 1);
  const applied = out.slice(0, first);
  const previousB64 = out.slice(first + 1, second);
  if (/^[0-9]+$/.test(applied) && Number(applied) > target.generation) {
    throw new SupersededError(
      `${exec.host} already applied generation ${applied} of ${target.resource} (this message carries ${target.generation})`,
    );
  }
  return { previous: previousB64 ? Buffer.from(previousB64, 'base64') : null, probe: out.slice(second + 1) };
}

/**
 * Converges one config file in few round trips (the benchmark counts them): one script makes
 * the layout, reads the applied generation and the current file (`readConfigState`); putFile
 * writes the new one; one script validates, reloads (or starts) and records the generation
 * (`writeConfig`). On a failed `nginx -t` the previous file comes back (or the new one goes)
 * and the job fails with nginx's words.
 */
export async function applyConfig(
  exec: Executor,
  paths: NginxPaths,
  change: ConfigChange,
): Promise<{ changed: boolean; started: boolean }> {
  const { previous } = await readConfigState(exec, paths, change);
  return writeConfig(exec, paths, change, previous);
}

/** The second half of `applyConfig`: `previous` is what `readConfigState` found. */
export async function writeConfig(
  exec: Executor,
  paths: NginxPaths,
  change: ConfigChange,
  previous: Buffer | null,
): Promise<{ changed: boolean; started: boolean }> {
  const state = stateFile(paths, change.resource);
  const { changed } = await exec.putFile(change.file, change.content, { mode: change.mode ?? 0o600, owner: 'root', group: 'root' });
  const outcome = await exec.runScript(
    script(
      ...defineReloadAndWait(paths),
      ...(change.prepare ?? []),
      sh`running=no; if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then running=yes; fi`,
      sh`if [ ${changed ? 'yes' : 'no'} = no ] && [ "$running" = yes ]; then :; else`,
      sh`  if ! ${nginxCmd(paths)} -t 2>${paths.tmp}/test.err; then cat ${paths.tmp}/test.err >&2; exit 3; fi`,
      sh`  if [ "$running" = yes ]; then reload_and_wait; else ${startCmd(paths)}; echo started; fi`,
      sh`fi`,
      tightenLogs(paths),
      sh`printf '%s\n' ${change.generation} > ${state}.tmp && mv -f ${state}.tmp ${state}`,
    ),
    { okExitCodes: [0, 3, 4] },
  );
  if (outcome.exitCode !== 0) {
    if (previous !== null) await exec.putFile(change.file, previous);
    else await exec.run(sh`rm -f -- ${change.file}`);
    const verb = outcome.exitCode === 3 ? 'rejected' : 'could not load';
    throw new PermanentError(`nginx ${verb} the configuration (the previous one stays active): ${essential(outcome.stderr)}`, {
      code: 'NGINX_INVALID',
    });
  }
  return { changed, started: outcome.stdout.includes('started') };
}

/** nginx's complaint, trimmed to the essential lines. */
export function essential(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.includes('[emerg]') || line.includes('[alert]') || line.includes('failed'));
  return (lines.length ? lines : [stderr.trim()]).join('\n').slice(0, 2000);
}

/**
 * Workers must traverse auth/ (htpasswd files, 0640 root:<nginxUser>) and logs/ (they reopen
 * their log files on USR1, after the master chowned them); other local users see neither.
 */
function layoutCommand(paths: NginxPaths): Command {
  const group = paths.nginxUser ? ['-g', paths.nginxUser] : [];
  return and(
    sh`install -d -m 0755 ${paths.baseDir} ${paths.www} ${paths.acme}`,
    sh`install -d -m 0700 ${paths.vhosts} ${paths.state} ${paths.tmp}`,
    sh`install -d -m 0750 -o root ${group} ${paths.auth} ${paths.logs}`,
    tightenLogs(paths),
  );
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
  const applied = await appliedGeneration(exec, paths, resource);
  if (applied !== null && applied > generation) {
    throw new SupersededError(`${exec.host} already applied generation ${applied} of ${resource} (this message carries ${generation})`);
  }
}

export async function recordGeneration(exec: Executor, paths: NginxPaths, resource: string, generation: number): Promise<void> {
  await exec.putFile(stateFile(paths, resource), `${generation}\n`, { mode: 0o600, owner: 'root', group: 'root' });
}

/** The generation of a resource nginx on this host serves: written only once a reload with it succeeded. */
export async function appliedGeneration(exec: Executor, paths: NginxPaths, resource: string): Promise<number | null> {
  const text = (await exec.readFile(stateFile(paths, resource)))?.toString('utf8').trim();
  return text && /^[0-9]+$/.test(text) ? Number(text) : null;
}

function stateFile(paths: NginxPaths, resource: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{0,100}$/.test(resource)) throw new PermanentError(`invalid state name ${resource}`);
  return `${paths.state}/${resource}.generation`;
}
