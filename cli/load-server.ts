import { CliError } from './errors.ts';

/** Set by scripts/build-cli.ts in the client bundle: where the server sources are, from the bundle. */
declare const UP_SERVER_PATH: string;
const BUNDLED = typeof UP_SERVER_PATH === 'string';
const SERVER = new URL(BUNDLED ? UP_SERVER_PATH : './server.ts', import.meta.url).href;

/**
 * The server code, for role commands only. From the sources (bin/up.js without a bundle) tsx
 * is already running; the client bundle starts it first. An installation of the client alone
 * has neither, and says so.
 */
export async function loadServer(): Promise<typeof import('./server.ts')> {
  try {
    if (BUNDLED) (await import('tsx/esm/api')).register();
    return (await import(SERVER)) as typeof import('./server.ts');
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /cli\/server\.ts|'tsx'/.test((error as Error).message);
    if (missing) {
      throw new CliError(
        'this is the `up` client alone: the role commands (serve, gateway, handler, recorder, scheduler, db) run from a server installation (git clone, npm ci)',
      );
    }
    throw error;
  }
}
