import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentStoreDir } from '../../lib/db/web.ts';
import { sh, script } from '../../lib/exec/index.ts';
import { PermanentError } from '../../queues/errors.ts';
import { websiteDeploy } from '../../queues/ops/website.ts';
import { defineHandler } from '../define.ts';
import { ensureLayout, nginxPaths, withNginxLock } from '../nginx.ts';
import { sitePaths } from '../website.apply/view.ts';

/**
 * The archive (checked by the gateway: files and directories only, safe names) goes on stdin
 * to tar on the host, into a fresh directory beside the document root, which then takes its
 * place: readers see the old tree or the new one. Owner: the tenant's Unix user when it exists
 * on the host (else root), group nginx's user, no access for anyone else.
 */
export default defineHandler({
  op: websiteDeploy,
  async run({ host, layout, site, archive }, ctx) {
    const body = await readFile(join(contentStoreDir(), `${archive.sha256}.tar.gz`)).catch(() => null);
    if (!body) throw new PermanentError(`archive ${archive.sha256} is not in the content store (${contentStoreDir()})`);
    if (createHash('sha256').update(body).digest('hex') !== archive.sha256) throw new PermanentError(`archive ${archive.sha256} does not match its checksum`);
    const exec = ctx.connect(host);
    const paths = nginxPaths(layout.baseDir);
    const { docRoot } = sitePaths(layout, site.key);
    const suffix = randomBytes(6).toString('hex');
    const incoming = `${paths.www}/.${site.key}.up-new-${suffix}`;
    const outgoing = `${paths.www}/.${site.key}.up-old-${suffix}`;
    const owner = site.owner ?? 'root';
    await ensureLayout(exec, paths);
    await exec.run(sh`install -d -m 0700 ${incoming} && tar -xzf - -C ${incoming} --no-same-owner --no-same-permissions`, {
      stdin: body,
      signal: ctx.signal,
    });
    const result = await withNginxLock(exec, layout.baseDir, () =>
      exec.runScript(
        script(
          sh`o=root; if id -u ${owner} >/dev/null 2>&1; then o=${owner}; fi`,
          // Belt and braces: nothing but files and directories survives, whatever the archive held.
          sh`find ${incoming} -mindepth 1 ! -type f ! -type d -delete`,
          sh`chown -R "$o:"${layout.nginxUser} ${incoming}`,
          sh`find ${incoming} -type d -exec chmod 2750 {} +`,
          sh`find ${incoming} -type f -exec chmod 0640 {} +`,
          sh`if [ -e ${docRoot} ]; then mv -T ${docRoot} ${outgoing}; fi`,
          sh`mv -T ${incoming} ${docRoot}`,
          sh`rm -rf ${outgoing}`,
          sh`find ${docRoot} -type f | wc -l`,
        ),
        { signal: ctx.signal },
      ),
    ).catch(async (error) => {
      await exec.run(sh`rm -rf ${incoming}`).catch(() => undefined);
      throw error;
    });
    const files = Number(result.stdout.trim().split('\n').pop());
    ctx.log.info({ host: exec.host, site: site.key, files, bytes: archive.bytes }, 'website content deployed');
    return { host: exec.host, files, bytes: archive.bytes };
  },
});
