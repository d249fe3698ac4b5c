/**
 * pg_hba.conf lines of the users limited to client networks. They live between two markers
 * that setup writes (and keeps when it rewrites the file), one user's lines after another;
 * first match wins, so a limited user's `reject` comes before the catch-all TLS rule.
 */
import type { Executor } from '../../lib/exec/index.ts';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import type { Network } from '../../lib/validate/address.ts';
import { pgHbaLines } from '../../queues/databases/addresses.ts';
import type { DbServerRef } from '../../queues/databases/ops.ts';
import { psql } from './sql.ts';

export const HBA_USERS_BEGIN = '# users limited to client networks (database.user.apply) — begin';
export const HBA_USERS_END = '# users limited to client networks — end';

/** The lines between the markers (none when they are absent). */
export function hbaUserLines(text: string): string[] {
  const lines = text.split('\n');
  const begin = lines.indexOf(HBA_USERS_BEGIN);
  const end = lines.indexOf(HBA_USERS_END);
  return begin >= 0 && end > begin ? lines.slice(begin + 1, end).filter((l) => l.trim().length > 0) : [];
}

/** The file with one user's lines replaced; null when the markers are missing. */
export function withUserLines(text: string, user: string, userLines: readonly string[]): string | null {
  const lines = text.split('\n');
  const begin = lines.indexOf(HBA_USERS_BEGIN);
  const end = lines.indexOf(HBA_USERS_END);
  if (begin < 0 || end < begin) return null;
  const others = lines.slice(begin + 1, end).filter((l) => l.trim().length > 0 && l.split(/\s+/)[2] !== `"${user}"`);
  return [...lines.slice(0, begin + 1), ...others, ...userLines, ...lines.slice(end)].join('\n');
}

const HBA_FILE = /^\/etc\/postgresql\/[0-9]{1,3}\/[a-z0-9][a-z0-9_-]{0,31}\/pg_hba\.conf$/;

/** What a psql session already saw of pg_hba.conf: its path, and how many of its lines name the user. */
export interface HbaSeen {
  file: string;
  userLines: number;
}

/** SQL printing `hba:<file>` and `hba-lines:<n>` for the user in psql variable `u` (read by `hbaSeenIn`). */
export const HBA_SEEN_SQL = `SELECT 'hba:' || current_setting('hba_file');
SELECT 'hba-lines:' || count(*) FROM pg_hba_file_rules WHERE :'u' = ANY (user_name);`;

export function hbaSeenIn(out: readonly string[]): HbaSeen | undefined {
  const file = out.find((l) => l.startsWith('hba:'))?.slice('hba:'.length);
  const lines = out.find((l) => l.startsWith('hba-lines:'))?.slice('hba-lines:'.length);
  return file && lines !== undefined ? { file, userLines: Number(lines) } : undefined;
}

/**
 * Sets the user's networks in pg_hba.conf (none: remove its lines) and reloads when it changed.
 * `seen`: what the caller's session read of it already; a user limited to no network and named
 * on no line (the common case) needs nothing more. A file that needs no change is left without
 * taking the server's lock.
 */
export async function pgApplyNetworks(
  exec: Executor,
  server: DbServerRef,
  user: string,
  networks: readonly Network[],
  signal?: AbortSignal,
  seen?: HbaSeen,
): Promise<boolean> {
  if (seen && seen.userLines === 0 && networks.length === 0) return false;
  const file = seen?.file ?? (await psql(exec, server, 'postgres', `SELECT current_setting('hba_file');\n`, signal))[0];
  if (!HBA_FILE.test(file ?? '')) throw new PermanentError(`${exec.host}: unexpected hba_file ${JSON.stringify(file)}`);
  const lines = pgHbaLines(user, networks);
  /** The file as it should be; the same text when it needs no change. */
  const wanted = (text: string): string => {
    const next = withUserLines(text, user, lines);
    if (next !== null) return next;
    if (!lines.length) return text;
    throw new RetryableError(`${exec.host}: ${file} predates client-network limits: set the server up again (up hosts prepare)`, {
      code: 'HBA_OUTDATED',
    });
  };
  const current = (await exec.readFile(file))?.toString() ?? '';
  if (wanted(current) === current) return false;
  return exec.withLock('db-server-postgresql', async () => {
    const text = (await exec.readFile(file))?.toString() ?? '';
    const next = wanted(text);
    if (next === text) return false;
    const { changed } = await exec.putFile(file, next, { owner: 'postgres', group: 'postgres', mode: 0o640 });
    if (!changed) return false;
    const errors = await psql(
      exec,
      server,
      'postgres',
      `SELECT pg_reload_conf();\nSELECT 'error:' || line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL;\n`,
      signal,
    );
    const bad = errors.filter((l) => l.startsWith('error:'));
    if (bad.length) throw new PermanentError(`${exec.host}: ${file} has errors: ${bad.join('; ').slice(0, 400)}`);
    return true;
  });
}

/** What the handlers run to remove a deleted user's lines. */
export const pgRemoveNetworks = (exec: Executor, server: DbServerRef, user: string, signal?: AbortSignal) =>
  pgApplyNetworks(exec, server, user, [], signal);
