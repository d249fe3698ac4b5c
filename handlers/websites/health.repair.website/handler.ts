import { sh } from '../../../lib/exec/index.ts';
import { healthRepairWebsite } from '../../../queues/websites/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { withNginxLock } from '../../proxies/nginx.ts';
import { applyWebsite } from '../website.apply/handler.ts';
import { sitePaths } from '../website.apply/view.ts';
import { siteOwner } from '../owner.ts';
import { deployArchive } from '../website.deploy/handler.ts';

/**
 * website.apply itself; the site's current archive again when the check found the document
 * root empty; then the document root as website.deploy leaves it: the tenant's with nginx's
 * group, directories 2750 and files 0640.
 */
export default defineHandler({
  op: healthRepairWebsite,
  async run(payload, ctx) {
    const result = await applyWebsite(payload, ctx);
    const { layout, site, archive } = payload;
    if (archive) await deployArchive({ host: payload.host, layout, site: { id: site.id, key: site.key, owner: site.owner }, archive }, ctx);
    const exec = ctx.connect(payload.host);
    const docRoot = sitePaths(layout, site.key).docRoot;
    const owner = await siteOwner(exec, site.owner, ctx.signal);
    await withNginxLock(exec, layout.baseDir, () =>
      exec.runScript([
        sh`chown -R ${`${owner}:${layout.nginxUser}`} ${docRoot}`,
        sh`find ${docRoot} -type d -exec chmod 2750 {} +`,
        sh`find ${docRoot} -type f -exec chmod 0640 {} +`,
      ]),
    );
    ctx.log.info({ host: exec.host, site: site.key }, 'website repaired');
    return result;
  },
});
