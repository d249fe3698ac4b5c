import { hostUpdate } from '../../../queues/hosts/update.ts';
import { defineHandler } from '../../runtime/define.ts';
import { listUpgradable, parseUpgradable, refreshLists, upgradeAll, upgradedBetween } from './apt-list.ts';

const APT_TIMEOUT_MS = 15 * 60_000;

export default defineHandler({
  op: hostUpdate,
  async run({ host, apply, refresh }, { connect, signal }) {
    const executor = connect(host);
    const list = async () => parseUpgradable((await executor.run(listUpgradable(), { signal })).stdout);
    return executor.withLock('apt', async () => {
      if (refresh) await executor.runScript(refreshLists(), { signal, timeoutMs: APT_TIMEOUT_MS });
      const pending = await list();
      if (!apply || pending.length === 0) return { pending, applied: false, upgraded: [] };
      await executor.runScript(upgradeAll(), { signal, timeoutMs: APT_TIMEOUT_MS });
      return { pending, applied: true, upgraded: upgradedBetween(pending, await list()) };
    });
  },
});
