import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');

/**
 * The admin token: `UP_ADMIN_TOKEN`, or the one stored in the data directory, or a new one
 * generated, stored there (mode 0600) and reported as created so it can be shown once.
 */
export function ensureAdminToken(options: { configured: string | null; dataDir: string }): { token: string; created: boolean } {
  if (options.configured) return { token: options.configured, created: false };
  const file = adminTokenFile(options.dataDir);
  try {
    return { token: readFileSync(file, 'utf8').trim(), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const token = `up_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, created: true };
}

/** For the local CLI: the stored admin token when this user can read it. */
export function readStoredAdminToken(dataDir: string): string | null {
  try {
    return readFileSync(adminTokenFile(dataDir), 'utf8').trim() || null;
  } catch {
    return null;
  }
}
