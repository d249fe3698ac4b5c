import { proxyApply } from '../../queues/ops/proxy.ts';
import { render } from '../../lib/render.ts';
import { defineHandler } from '../define.ts';
import { applyConfig, nginxPaths, withNginxLock } from '../nginx.ts';

/** One job per member host: each converges (and retries) on its own, and reports its own generation. */
export default defineHandler({
  op: proxyApply,
  async run(payload, ctx) {
    const { layout, generation } = payload;
    const exec = ctx.connect(payload.host);
    const paths = nginxPaths(layout.baseDir);
    const conf = render('nginx', 'nginx/nginx.conf.mustache', {
      group: layout.group,
      generation,
      user: layout.nginxUser,
      baseDir: layout.baseDir,
      port: layout.httpPort,
      ipv6: layout.ipv6,
    });
    return withNginxLock(exec, layout.baseDir, async () => {
      const { changed, started } = await applyConfig(exec, paths, { file: paths.conf, content: conf, mode: 0o644, resource: 'proxy', generation });
      ctx.log.info({ host: exec.host, generation, changed, started }, 'proxy configuration applied');
      return { host: exec.host, generation, changed, started };
    });
  },
});
