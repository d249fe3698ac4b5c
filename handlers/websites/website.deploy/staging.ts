/**
 * A deploy extracts into `www/.<site>.up-new-<random>` and swaps the old document root out
 * through `www/.<site>.up-old-<random>`. Neither may outlive the deploy: whatever the archive
 * or the host did, these are removed (or the old root put back), and what a killed handler
 * could not remove is swept later.
 */
import { randomBytes } from 'node:crypto';
import { sh, type Executor } from '../../../lib/exec/index.ts';

export interface Staging {
  incoming: string;
  outgoing: string;
}

export function stagingFor(www: string, key: string): Staging {
  const suffix = randomBytes(6).toString('hex');
  return { incoming: `${www}/.${key}.up-new-${suffix}`, outgoing: `${www}/.${key}.up-old-${suffix}` };
}

/**
 * After a failed deploy: the extraction goes, and the old document root comes back if the
 * swap was cut between its two renames (else the moved-out copy goes too). Not bound to the
 * job's signal: this must run when the job was aborted as well.
 */
export async function discardStaging(exec: Executor, staging: Staging, docRoot: string): Promise<void> {
  const { incoming, outgoing } = staging;
  await exec.run(
    sh`rm -rf -- ${incoming}; if [ -e ${outgoing} ]; then if [ -e ${docRoot} ]; then rm -rf -- ${outgoing}; else mv -T -- ${outgoing} ${docRoot}; fi; fi`,
    { timeoutMs: 120_000 },
  );
}

/**
 * Removes a site's staging directories left by deploys that never finished (a killed handler,
 * a lost connection). `olderThanMinutes` spares those of a deploy running right now.
 */
export async function sweepStaging(exec: Executor, www: string, key: string, olderThanMinutes?: number): Promise<void> {
  const age = olderThanMinutes === undefined ? sh`` : sh`-mmin +${olderThanMinutes}`;
  await exec.run(
    sh`if [ -d ${www} ]; then find ${www} -mindepth 1 -maxdepth 1 \( -name ${`.${key}.up-new-*`} -o -name ${`.${key}.up-old-*`} \) ${age} -exec rm -rf -- {} +; fi`,
    { timeoutMs: 120_000 },
  );
}
