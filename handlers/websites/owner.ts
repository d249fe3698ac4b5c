/**
 * A tenant's site belongs to the tenant's Unix user on every member. tenant.provision creates
 * it (planned with the site's jobs, which may run first): until it exists, a site job fails
 * retryably rather than give the tenant's files to root.
 */
import { RetryableError } from '../../lib/errors.ts';
import { sh, type Executor } from '../../lib/exec/index.ts';

/** The Unix user that owns the site's files: the tenant's, or root for an admin's site. */
export async function siteOwner(exec: Executor, owner: string | null, signal?: AbortSignal): Promise<string> {
  if (owner === null) return 'root';
  const found = await exec.run(sh`if id -u ${owner} >/dev/null 2>&1; then echo present; else echo absent; fi`, { signal });
  if (found.stdout.trim() !== 'present')
    throw new RetryableError(`the Unix user ${owner} does not exist on ${exec.host} yet: the site waits for its tenant.provision`);
  return owner;
}
