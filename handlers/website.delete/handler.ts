import { sh } from '../../lib/exec/index.ts';
import { websiteDelete } from '../../queues/ops/website.ts';
import { defineHandler } from '../define.ts';
import { checkGeneration, nginxPaths, recordGeneration, removeConfig, withNginxLock } from '../nginx.ts';
import { sitePaths } from '../website.apply/view.ts';
import { siteCertName } from '../../queues/ops/cert.ts';
import { removeCertificate } from '../tls-files.ts';

/** Removes the vhost (nginx stops answering for the names), then the document root and password file. */
export default defineHandler({
  op: websiteDelete,
  async run({ host, layout, site }, ctx) {
    const exec = ctx.connect(host);
    const paths = nginxPaths(layout.baseDir);
    const files = sitePaths(layout, site.key);
    return withNginxLock(exec, layout.baseDir, async () => {
      await checkGeneration(exec, paths, site.id, site.generation);
      const removed = await removeConfig(exec, paths, files.vhost, `# up website ${site.id} `);
      if (removed !== 'foreign') {
        await exec.run(sh`rm -rf -- ${files.docRoot} ${files.htpasswd}`);
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
