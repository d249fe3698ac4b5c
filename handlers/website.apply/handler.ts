import { sh } from '../../lib/exec/index.ts';
import { websiteApply } from '../../queues/ops/website.ts';
import { defineHandler } from '../define.ts';
import { applyConfig, ensureLayout, nginxPaths, withNginxLock } from '../nginx.ts';
import { htpasswd, renderVhost, sitePaths } from './view.ts';

export default defineHandler({
  op: websiteApply,
  async run({ host, layout, site }, ctx) {
    const exec = ctx.connect(host);
    const paths = nginxPaths(layout.baseDir);
    const files = sitePaths(layout, site.key);
    const vhost = renderVhost(layout, site);
    const passwords = htpasswd(site);
    const owner = site.owner ?? 'root';
    return withNginxLock(exec, layout.baseDir, async () => {
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
  },
});
