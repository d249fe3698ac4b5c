import { sh } from '../../lib/exec/index.ts';
import { healthRepairWebsite } from '../../queues/ops/health-web.ts';
import { defineHandler } from '../define.ts';
import { withNginxLock } from '../nginx.ts';
import { applyWebsite } from '../website.apply/handler.ts';
import { sitePaths } from '../website.apply/view.ts';

/**
 * website.apply itself, then the document root as website.deploy leaves it: the tenant's (when
 * its Unix user exists here) with nginx's group, directories 2750 and files 0640.
 */
export default defineHandler({
  op: healthRepairWebsite,
  async run(payload, ctx) {
    const result = await applyWebsite(payload, ctx);
    const { layout, site } = payload;
    const exec = ctx.connect(payload.host);
    const docRoot = sitePaths(layout, site.key).docRoot;
    await withNginxLock(exec, layout.baseDir, () =>
      exec.runScript([
        sh`o=root; if id -u ${site.owner ?? 'root'} >/dev/null 2>&1; then o=${site.owner ?? 'root'}; fi`,
        sh`chown -R "$o:"${layout.nginxUser} ${docRoot}`,
        sh`find ${docRoot} -type d -exec chmod 2750 {} +`,
        sh`find ${docRoot} -type f -exec chmod 0640 {} +`,
      ]),
    );
    ctx.log.info({ host: exec.host, site: site.key }, 'website repaired');
    return result;
  },
});
