import { sh } from '../../../lib/exec/index.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { websiteApply } from '../../../queues/websites/ops.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import { nginxPaths, readConfigState, withNginxLock, writeConfig } from '../../proxies/nginx.ts';
import { installedCertsProbe, parseInstalledCerts } from '../../certificates/tls-files.ts';
import { checkedRoutes } from './upstreams.ts';
import { htpasswd, renderVhost, sitePaths } from './view.ts';
import { siteOwner } from '../owner.ts';

/** Converges one host to the site's vhost; health.repair.website runs the same. */
export async function applyWebsite(
  { host, layout, site }: PayloadOf<typeof websiteApply>,
  ctx: HandlerContext,
): Promise<ResultOf<typeof websiteApply>> {
  // Checked before anything touches the host: the gateway checked too, but a message may be old or replayed.
  const routes = checkedRoutes(site, layout, host);
  const exec = ctx.connect(host);
  const paths = nginxPaths(layout.baseDir, layout.nginxUser);
  const files = sitePaths(layout, site.key);
  const passwords = htpasswd(site);
  const owner = await siteOwner(exec, site.owner, ctx.signal);
  return withNginxLock(exec, layout.baseDir, async () => {
    // One round trip reads what the vhost depends on: the group's nginx.conf is there
    // (PROXY_NOT_READY, before anything is touched), the applied generation (superseded), the
    // current vhost (restored if nginx refuses the new one) and the certificates installed here.
    const target = {
      file: files.vhost,
      resource: site.id,
      generation: site.generation,
      requireProxyConfig: true,
      probe: installedCertsProbe(layout.baseDir, site.key),
    };
    const { previous, probe } = await readConfigState(exec, paths, target);
    const vhost = renderVhost(layout, { ...site, routes }, parseInstalledCerts(probe));
    if (passwords !== null) await exec.putFile(files.htpasswd, passwords, { mode: 0o640, owner: 'root', group: layout.nginxUser });
    const change = {
      ...target,
      content: vhost,
      prepare: [
        // The document root: the tenant's, nginx's group, nobody else.
        sh`[ -d ${files.docRoot} ] || install -d -m 2750 -o ${owner} -g ${layout.nginxUser} ${files.docRoot}`,
        ...(passwords === null ? [sh`rm -f -- ${files.htpasswd}`] : []),
      ],
    };
    const { changed } = await writeConfig(exec, paths, change, previous);
    ctx.log.info({ host: exec.host, site: site.key, generation: site.generation, changed }, 'website applied');
    return { host: exec.host, generation: site.generation, changed };
  });
}

export default defineHandler({ op: websiteApply, run: applyWebsite });
