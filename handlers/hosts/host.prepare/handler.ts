import { PermanentError } from '../../../lib/errors.ts';
import { hostPrepare, UP_DIRECTORIES } from '../../../queues/hosts/prepare.ts';
import { defineHandler } from '../../runtime/define.ts';
import { aptInstall, createdDirectories, dpkgQuery, ensureDirectories, missingPackages } from './plan.ts';

const APT_TIMEOUT_MS = 15 * 60_000;

/** The packages of the host's roles and up's directories; each role's own set-up is a job of its domain. */
export default defineHandler({
  op: hostPrepare,
  async run({ host, packages: wanted }, { connect, signal }) {
    const executor = connect(host);
    // The directories first: the lock directory is among them, and withLock would create it silently.
    const made = await executor.runScript(ensureDirectories(UP_DIRECTORIES), { signal });
    const created = createdDirectories(made.stdout);
    const installed = await executor.withLock('apt', async () => {
      const before = missingPackages(wanted, (await executor.run(dpkgQuery(wanted), { signal })).stdout);
      if (before.missing.length === 0) return [];
      await executor.runScript(aptInstall(before.missing), { signal, timeoutMs: APT_TIMEOUT_MS });
      const after = missingPackages(wanted, (await executor.run(dpkgQuery(wanted), { signal })).stdout);
      if (after.missing.length > 0)
        throw new PermanentError(`${host.name}: apt-get finished but ${after.missing.join(', ')} is still not installed`);
      return before.missing;
    });
    return {
      changed: installed.length > 0 || created.length > 0,
      packages: { installed, present: wanted.filter((p) => !installed.includes(p)) },
      directories: { created, present: Object.keys(UP_DIRECTORIES).filter((d) => !created.includes(d)) },
    };
  },
});
