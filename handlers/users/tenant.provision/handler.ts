import { PermanentError } from '../../../lib/errors.ts';
import { tenantProvision, unixUserOf } from '../../../queues/users/ops.ts';
import { script, sh, type Executor } from '../../../lib/exec/index.ts';
import { defineHandler } from '../../runtime/define.ts';
import { collisions, firstFreeRange, parseSubids, type SubidEntry } from './subids.ts';

const SUBID_COUNT = 65536;
/** Where ranges are looked for when the gateway did not choose one (above useradd's own). */
const SUBID_FLOOR = 1_000_000_000;

/**
 * Converges a host to "the tenant's Unix user exists": its own group, a password that
 * cannot be used (`*`: not `!`, so that sshd still accepts its keys later), home 0750,
 * and one subordinate uid/gid range. Every step checks before it acts.
 */
export default defineHandler({
  op: tenantProvision,
  async run(payload, { connect, signal }) {
    const host = connect(payload.host);
    const user = unixUserOf(payload.tenant);
    const home = `/home/${user}`;
    return host.withLock('users', async () => {
      const account = await host.runScript(
        script(
          // -f, and useradd's failure forgiven when the user is there after all: a user made meanwhile
          // by a job on another host that shares /etc/passwd (lab namespaces do) is the user wanted.
          sh`if ! getent group ${user} >/dev/null; then groupadd -f ${user}; echo changed; fi`,
          // SUB_*_COUNT=0: no automatic range; ours is chosen below, the same for uids and gids.
          sh`if ! getent passwd ${user} >/dev/null; then useradd -M -d ${home} -g ${user} -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 ${user} || getent passwd ${user} >/dev/null; echo changed; fi`,
          sh`if [ "$(getent shadow ${user} | cut -d: -f2)" != '*' ]; then usermod -p '*' ${user}; echo changed; fi`,
          sh`if [ ! -d ${home} ]; then install -d -m 0750 -o ${user} -g ${user} ${home}; echo changed; fi`,
          sh`if [ "$(stat -c '%a %U %G' ${home})" != ${`750 ${user} ${user}`} ]; then chown ${`${user}:${user}`} ${home}; chmod 0750 ${home}; echo changed; fi`,
          sh`touch /etc/subuid /etc/subgid`,
          sh`echo "ids $(id -u ${user}) $(id -g ${user})"`,
        ),
        { signal },
      );
      const ids = /^ids (\d+) (\d+)$/m.exec(account.stdout);
      if (!ids) throw new PermanentError(`could not read the ids of ${user} on ${host.host}`);
      const range = await ensureSubids(host, user, payload.uidRange, signal);
      return {
        user,
        uid: Number(ids[1]),
        gid: Number(ids[2]),
        home,
        subuid: range.range,
        subgid: range.range,
        changed: account.stdout.includes('changed') || range.changed,
      };
    });
  },
});

async function ensureSubids(host: Executor, user: string, wanted: { start: number; count: number } | undefined, signal: AbortSignal) {
  const subuid = parseSubids((await host.readFile('/etc/subuid'))?.toString() ?? '');
  const subgid = parseSubids((await host.readFile('/etc/subgid'))?.toString() ?? '');
  // The same range twice is one range (two hosts sharing /etc/subuid may both have added it).
  const mine = (entries: SubidEntry[]) =>
    entries.filter(
      (e, i) => e.owner === user && entries.findIndex((o) => o.owner === user && o.start === e.start && o.count === e.count) === i,
    );
  const [uidHave, gidHave] = [mine(subuid), mine(subgid)];
  const same = (a: SubidEntry[], b: SubidEntry[]) =>
    a.length === 1 && b.length === 1 && a[0].start === b[0].start && a[0].count === b[0].count;
  if (same(uidHave, gidHave) && (!wanted || uidHave[0].start === wanted.start)) {
    return { range: { start: uidHave[0].start, count: uidHave[0].count }, changed: false };
  }
  if (uidHave.length + gidHave.length > 0) {
    const have = [...uidHave, ...gidHave].map((e) => `${e.start}+${e.count}`).join(', ');
    // Changing a tenant's ids would orphan the files its containers own: a person decides.
    throw new PermanentError(`${user} already has subordinate ids ${have} on ${host.host}, not the range asked for`);
  }
  const range = wanted ?? firstFreeRange([subuid, subgid], SUBID_FLOOR, SUBID_COUNT);
  const clash = [...collisions(subuid, user, range), ...collisions(subgid, user, range)];
  if (clash.length > 0) {
    throw new PermanentError(
      `subordinate ids ${range.start}+${range.count} overlap ${clash.map((e) => `${e.owner} (${e.start}+${e.count})`).join(', ')} on ${host.host}`,
    );
  }
  const span = `${range.start}-${range.start + range.count - 1}`;
  await host.run(sh`usermod --add-subuids ${span} --add-subgids ${span} ${user}`, { signal });
  return { range, changed: true };
}
