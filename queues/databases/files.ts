/**
 * Where database dumps and imports wait: a `databases/` folder of the content store, shared by
 * gateways and the handlers of the databases pool (nothing big travels over RabbitMQ). A dump
 * is `<sha256>.sql.gz`, an upload to import `import-<sha256>.sql[.gz]`; a file being written has
 * a temp name first. Files older than DATABASE_FILES_TTL_MS are collected by the gateway.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { contentStoreDir } from '../../lib/config.ts';

/** How long a dump stays downloadable, and an upload waits for its import. */
export const DATABASE_FILES_TTL_MS = 24 * 3_600_000;

export const databaseFilesDir = (dir = contentStoreDir()) => join(dir, 'databases');
export const dumpPath = (sha256: string, dir?: string) => join(databaseFilesDir(dir), `${sha256}.sql.gz`);
export const importPath = (sha256: string, gzip: boolean, dir?: string) =>
  join(databaseFilesDir(dir), `import-${sha256}.sql${gzip ? '.gz' : ''}`);
export const tempFilePath = (kind: 'dump' | 'import', dir?: string) => join(databaseFilesDir(dir), `.${kind}-${randomUUID()}.tmp`);
