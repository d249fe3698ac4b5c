import { proxyApply } from '../../../queues/proxies/ops.ts';
import { render } from '../../../lib/render.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import { applyConfig, nginxPaths, withNginxLock } from '../nginx.ts';
import { tlsFiles, WILDCARD_CERT } from '../../../queues/certificates/ops.ts';
import { installedCerts } from '../../certificates/tls-files.ts';

/** Converges one member to the group's base configuration; health.repair.proxy runs the same. */
export async function applyProxy(payload: PayloadOf<typeof proxyApply>, ctx: HandlerContext): Promise<ResultOf<typeof proxyApply>> {
  const { layout, generation } = payload;
  const exec = ctx.connect(payload.host);
  const paths = nginxPaths(layout.baseDir, layout.nginxUser);
  return withNginxLock(exec, layout.baseDir, async () => {
    // The wildcard's HTTPS server only once its certificate is on this member (nginx -t fails on a missing file).
    const { wildcard } = await installedCerts(exec, layout.baseDir, null);
    const conf = render('nginx', 'nginx/nginx.conf.mustache', {
      group: layout.group,
      generation,
      user: layout.nginxUser,
      baseDir: layout.baseDir,
      port: layout.httpPort,
      ipv6: layout.ipv6,
      acmeIssuer: layout.acmeIssuer ?? null,
      wildcard: wildcard ? { httpsPort: layout.httpsPort ?? 443, ...tlsFiles(layout.baseDir, WILDCARD_CERT) } : null,
    });
    const { changed, started } = await applyConfig(exec, paths, {
      file: paths.conf,
      content: conf,
      mode: 0o644,
      resource: 'proxy',
      generation,
    });
    ctx.log.info({ host: exec.host, generation, changed, started }, 'proxy configuration applied');
    return { host: exec.host, generation, changed, started };
  });
}

/** One job per member host: each converges (and retries) on its own, and reports its own generation. */
export default defineHandler({ op: proxyApply, run: applyProxy });
