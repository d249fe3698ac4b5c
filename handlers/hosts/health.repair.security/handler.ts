import { sh } from '../../../lib/exec/index.ts';
import { healthRepairSecurity } from '../../../queues/hosts/security.ts';
import { defineHandler } from '../../runtime/define.ts';

/** Takes the write bit for others off tenants' files (symlinks aside); owners stay as they are. */
export default defineHandler({
  op: healthRepairSecurity,
  async run({ host, dirs }, ctx) {
    const exec = ctx.connect(host);
    const fix = (dir: ReturnType<typeof sh>) => sh`find ${dir} -xdev -perm -0002 ! -type l -print -exec chmod o-w {} + 2>/dev/null || true`;
    const { stdout } = await exec.runScript([
      sh`{`,
      sh`for h in ${dirs.homes}/up-*; do [ -d "$h" ] || continue; ${fix(sh`"$h"`)}; done`,
      ...dirs.docRoots.map((dir) => sh`if [ -d ${dir} ]; then ${fix(sh`${dir}`)}; fi`),
      sh`} | wc -l`,
    ]);
    const fixed = Number(stdout.trim()) || 0;
    ctx.log.info({ host: exec.host, fixed }, 'modes of tenant files repaired');
    return { host: exec.host, fixed };
  },
});
