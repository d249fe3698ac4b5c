import { sh } from '../../lib/exec/index.ts';
import type { PayloadOf, ResultOf } from '../../queues/operation.ts';
import { websiteApply } from '../../queues/ops/website.ts';
import { defineHandler, type HandlerContext } from '../define.ts';
import { applyConfig, ensureLayout, nginxPaths, withNginxLock } from '../nginx.ts';
import { installedCerts } from '../tls-files.ts';
import { htpasswd, renderVhost, sitePaths } from './view.ts';

/** Converges one host to the site's vhost; health.repair.website runs the same. */
export async function applyWebsite({ host, layout, site }: PayloadOf<typeof websiteApply>, ctx: HandlerContext): Promise<ResultOf<typeof websiteApply>> {
  const exec = ctx.connect(host);
  const paths = nginxPaths(layout.baseDir);
  const files = sitePaths(layout, site.key);
  const passwords = htpasswd(site);
  const owner = site.owner ?? 'root';
  return withNginxLock(exec, layout.baseDir, async () => {
    const vhost = renderVhost(layout, site, await installedCerts(exec, layout.baseDir, site.key));
    if (passwords !== null) {
      await ensureLayout(exec, paths);
      await exec.putFile(files.htpasswd, passwords, { mode: 0o640, owner: 'root', group: layout.nginxUser });
    }
    const { changed } = await applyConfig(exec, paths, {
      file: files.vhost,
      content: vhost,
      resource: site.id,
      generation: site.generation,
      prepare: [
        // The document root: the tenant's (when its Unix user exists here), nginx's group, nobody else.
        sh`[ -d ${files.docRoot} ] || { o=root; if id -u ${owner} >/dev/null 2>&1; then o=${owner}; fi; install -d -m 2750 -o "$o" -g ${layout.nginxUser} ${files.docRoot}; }`,
        ...(passwords === null ? [sh`rm -f -- ${files.htpasswd}`] : []),
      ],
    });
    ctx.log.info({ host: exec.host, site: site.key, generation: site.generation, changed }, 'website applied');
    return { host: exec.host, generation: site.generation, changed };
  });
}

export default defineHandler({ op: websiteApply, run: applyWebsite });
