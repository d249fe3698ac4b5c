import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentStoreDir } from '../../../lib/config.ts';
import { sh, script } from '../../../lib/exec/index.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { websiteDeploy } from '../../../queues/websites/ops.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { ensureLayout, nginxPaths, withNginxLock } from '../../proxies/nginx.ts';
import { sitePaths } from '../website.apply/view.ts';
import { discardStaging, stagingFor, sweepStaging } from './staging.ts';
import { siteOwner } from '../owner.ts';

/** Staging directories older than this belong to no running deploy (the op times out after 5 minutes). */
const ABANDONED_AFTER_MINUTES = 30;

/**
 * The archive (checked by the gateway: files and directories only, safe names, every header's
 * checksum) goes on stdin to tar on the host, into a fresh directory beside the document root,
 * which then takes its place: readers see the old tree or the new one. Owner: the tenant's
 * Unix user (the job retries until tenant.provision created it; root for an admin's site),
 * group nginx's user, no access for anyone else: directories 2750 (new files keep nginx's
 * group), files 0640. On any failure the staging directory goes and the old tree stays.
 */
export async function deployArchive(
  { host, layout, site, archive }: PayloadOf<typeof websiteDeploy>,
  ctx: HandlerContext,
): Promise<ResultOf<typeof websiteDeploy>> {
  const body = await readFile(join(contentStoreDir(), `${archive.sha256}.tar.gz`)).catch(() => null);
  if (!body) throw new PermanentError(`archive ${archive.sha256} is not in the content store (${contentStoreDir()})`);
  if (createHash('sha256').update(body).digest('hex') !== archive.sha256)
    throw new PermanentError(`archive ${archive.sha256} does not match its checksum`);
  const exec = ctx.connect(host);
  const paths = nginxPaths(layout.baseDir);
  const { docRoot } = sitePaths(layout, site.key);
  const staging = stagingFor(paths.www, site.key);
  const { incoming, outgoing } = staging;
  const owner = await siteOwner(exec, site.owner, ctx.signal);
  await ensureLayout(exec, paths);
  await sweepStaging(exec, paths.www, site.key, ABANDONED_AFTER_MINUTES);
  try {
    await exec.run(sh`install -d -m 0700 ${incoming} && tar -xzf - -C ${incoming} --no-same-owner --no-same-permissions`, {
      stdin: body,
      signal: ctx.signal,
    });
    const result = await withNginxLock(exec, layout.baseDir, () =>
      exec.runScript(
        script(
          // Belt and braces: nothing but files and directories survives, whatever the archive held.
          sh`find ${incoming} -mindepth 1 ! -type f ! -type d -delete`,
          sh`chown -R ${`${owner}:${layout.nginxUser}`} ${incoming}`,
          sh`find ${incoming} -type d -exec chmod 2750 {} +`,
          sh`find ${incoming} -type f -exec chmod 0640 {} +`,
          sh`if [ -e ${docRoot} ]; then mv -T ${docRoot} ${outgoing}; fi`,
          sh`mv -T ${incoming} ${docRoot}`,
          sh`rm -rf ${outgoing}`,
          sh`find ${docRoot} -type f | wc -l`,
        ),
        { signal: ctx.signal },
      ),
    );
    const files = Number(result.stdout.trim().split('\n').pop());
    ctx.log.info({ host: exec.host, site: site.key, files, bytes: archive.bytes }, 'website content deployed');
    return { host: exec.host, files, bytes: archive.bytes };
  } catch (error) {
    await discardStaging(exec, staging, docRoot).catch((cleanup) =>
      ctx.log.warn(
        { host: exec.host, site: site.key, err: cleanup },
        'could not remove the staging directory; the next deploy or the delete sweeps it',
      ),
    );
    throw error;
  }
}

export default defineHandler({ op: websiteDeploy, run: deployArchive });
