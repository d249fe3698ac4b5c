import { sh } from '../../../lib/exec/index.ts';
import { websiteDelete } from '../../../queues/websites/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { checkGeneration, nginxPaths, recordGeneration, removeConfig, requireProxyConfig, withNginxLock } from '../../proxies/nginx.ts';
import { sitePaths } from '../website.apply/view.ts';
import { siteCertName } from '../../../queues/certificates/ops.ts';
import { removeCertificate } from '../../certificates/tls-files.ts';
import { sweepStaging } from '../website.deploy/staging.ts';

/** Removes the vhost (nginx stops answering for the names), then the document root, what deploys left beside it, and the password file. */
export default defineHandler({
  op: websiteDelete,
  async run({ host, layout, site }, ctx) {
    const exec = ctx.connect(host);
    const paths = nginxPaths(layout.baseDir);
    const files = sitePaths(layout, site.key);
    return withNginxLock(exec, layout.baseDir, async () => {
      await checkGeneration(exec, paths, site.id, site.generation);
      await requireProxyConfig(exec, paths);
      const removed = await removeConfig(exec, paths, files.vhost, `# up website ${site.id} `);
      if (removed !== 'foreign') {
        await exec.run(sh`rm -rf -- ${files.docRoot} ${files.htpasswd}`);
        await sweepStaging(exec, paths.www, site.key);
        await removeCertificate(exec, layout.baseDir, siteCertName(site.key));
      }
      const changed = removed === true;
      // The state file stays: a late website.apply for this site must end superseded.
      await recordGeneration(exec, paths, site.id, site.generation);
      ctx.log.info({ host: exec.host, site: site.key, generation: site.generation, changed }, 'website removed');
      return { host: exec.host, generation: site.generation, changed };
    });
  },
});
