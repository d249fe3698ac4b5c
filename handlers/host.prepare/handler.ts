import { PermanentError } from '../../queues/errors.ts';
import { packagesForRoles } from '../../queues/ops/host-common.ts';
import { hostPrepare, UP_DIRECTORIES } from '../../queues/ops/host-prepare.ts';
import { defineHandler } from '../define.ts';
import { loadTsigKey } from '../dns-keys.ts';
import { prepareBind } from './bind.ts';
import { aptInstall, createdDirectories, dpkgQuery, ensureDirectories, missingPackages } from './plan.ts';

const APT_TIMEOUT_MS = 15 * 60_000;

export default defineHandler({
  op: hostPrepare,
  async run({ host, roles, bind }, { connect, signal }) {
    const executor = connect(host);
    // The directories first: the lock directory is among them, and withLock would create it silently.
    const made = await executor.runScript(ensureDirectories(UP_DIRECTORIES), { signal });
    const created = createdDirectories(made.stdout);
    const wanted = packagesForRoles(roles);
    const installed = await executor.withLock('apt', async () => {
      const before = missingPackages(wanted, (await executor.run(dpkgQuery(wanted), { signal })).stdout);
      if (before.missing.length === 0) return [];
      await executor.runScript(aptInstall(before.missing), { signal, timeoutMs: APT_TIMEOUT_MS });
      const after = missingPackages(wanted, (await executor.run(dpkgQuery(wanted), { signal })).stdout);
      if (after.missing.length > 0) throw new PermanentError(`${host.name}: apt-get finished but ${after.missing.join(', ')} is still not installed`);
      return before.missing;
    });
    // After the packages: named, rndc and named-checkconf come with them.
    const bindChanged = bind ? await prepareBind(executor, bind, await loadTsigKey(bind.keyName, bind.algorithm), signal) : [];
    return {
      changed: installed.length > 0 || created.length > 0 || bindChanged.length > 0,
      ...(bind ? { bind: { configDir: bind.configDir, changed: bindChanged } } : {}),
      packages: { installed, present: wanted.filter((p) => !installed.includes(p)) },
      directories: { created, present: Object.keys(UP_DIRECTORIES).filter((d) => !created.includes(d)) },
    };
  },
});
