import { tenantDeprovision, unixUserOf } from '../../../queues/users/ops.ts';
import { script, sh } from '../../../lib/exec/index.ts';
import { defineHandler } from '../../runtime/define.ts';

/**
 * Removes the tenant's Unix identity from a host: its processes first (userdel refuses a
 * user that still runs something), then the user with its home, its group, and any
 * subordinate ranges left behind. Absent pieces are skipped, so it can run twice.
 */
export default defineHandler({
  op: tenantDeprovision,
  async run(payload, { connect, signal }) {
    const host = connect(payload.host);
    const user = unixUserOf(payload.tenant);
    const home = `/home/${user}`;
    const owned = `^${user}:`;
    const result = await host.withLock('users', () =>
      host.runScript(
        script(
          sh`if getent passwd ${user} >/dev/null; then`,
          sh`  pkill -KILL -u ${user} || :`,
          sh`  n=0; while pgrep -u ${user} >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done`,
          sh`  userdel ${user}; echo changed`,
          sh`fi`,
          sh`if [ -e ${home} ]; then rm -rf -- ${home}; echo changed; fi`,
          sh`if getent group ${user} >/dev/null; then groupdel ${user}; echo changed; fi`,
          sh`for f in /etc/subuid /etc/subgid; do if [ -f "$f" ] && grep -q ${owned} "$f"; then sed -i ${`/${owned}/d`} "$f"; echo changed; fi; done`,
        ),
        { signal },
      ),
    );
    return { user, changed: result.stdout.includes('changed') };
  },
});
