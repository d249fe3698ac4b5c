/**
 * Dumps and imports at the gateway: uploads stream into the content store's `databases/`
 * folder (hashed and counted as they come, never held in memory), dumps are read back from
 * it, and files older than DATABASE_FILES_TTL_MS are collected — a dump is downloadable for a
 * day (download it again as often as needed within that time), an upload waits a day for its
 * import. Collection runs after every dump or import request.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { DATABASE_FILES_TTL_MS, databaseFilesDir, dumpPath, importPath, tempFilePath } from '../../queues/databases/files.ts';
import { HttpError } from '../plugins/errors.ts';
import { effectiveLimits, type UserRow } from '../users/store.ts';
import type { DatabaseRow } from './store.ts';

const MiB = 1024 ** 2;
/** Whatever the plan, one upload is at most this big (admins' included). */
export const MAX_IMPORT_BYTES = 4 * 1024 * MiB;
const UPLOAD_TIMEOUT_MS = 30 * 60_000;
const SQL_TYPES = ['application/gzip', 'application/x-gzip', 'application/sql', 'application/octet-stream'];

/** The request body as OpenAPI shows it. */
export const SqlUpload = {
  content: {
    'application/sql': {
      // No `type`: the body reaches the route as a stream, which a string schema would refuse.
      schema: {
        description: 'plain SQL (what `pg_dump` or `mariadb-dump` writes)',
        examples: ['CREATE TABLE items (n integer);\nINSERT INTO items VALUES (7);\n'],
      },
    },
    'application/gzip': {
      schema: { description: 'the same, gzip-compressed (`up databases dump` writes it)', contentMediaType: 'application/gzip' },
    },
  },
};

/** SQL bodies reach the route as the request stream itself, unread. */
export function acceptSqlStreams(app: FastifyInstance): void {
  app.addContentTypeParser(SQL_TYPES, (_request, payload, done) => done(null, payload));
}

/** What one upload of the owner may weigh: their plan's databaseMb (the sizes their databases may reach). */
export async function importLimit(db: Knex, database: DatabaseRow): Promise<number> {
  const owner: Pick<UserRow, 'role' | 'limits'> = await db('users').where({ id: database.owner_id }).first('role', 'limits');
  if (owner.role === 'admin') return MAX_IMPORT_BYTES;
  return Math.min(effectiveLimits(owner).databaseMb * MiB, MAX_IMPORT_BYTES);
}

export interface StoredUpload {
  sha256: string;
  bytes: number;
  gzip: boolean;
}

/** Streams the body into the store: hashed, counted against `limit` as it comes (413 past it). */
export async function receiveImport(body: unknown, limit: number): Promise<StoredUpload> {
  const stream = body as IncomingMessage | null;
  if (!stream || typeof stream.pipe !== 'function')
    throw new HttpError(415, 'unsupported_media_type', `send the SQL as ${SQL_TYPES.join(' or ')}`);
  const declared = Number(stream.headers?.['content-length']);
  const drain = () => {
    let drained = 0;
    stream.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > limit) stream.socket?.destroy();
    });
    stream.resume();
  };
  const tooBig = () => new HttpError(413, 'payload_too_large', `the SQL file is larger than ${limit} bytes (the plan's databaseMb)`);
  if (Number.isSafeInteger(declared) && declared > limit) {
    drain();
    throw tooBig();
  }
  await mkdir(databaseFilesDir(), { recursive: true, mode: 0o700 });
  const temp = tempFilePath('import');
  const hash = createHash('sha256');
  let bytes = 0;
  let head = Buffer.alloc(0);
  const file = await open(temp, 'wx', 0o600);
  const deadline = AbortSignal.timeout(UPLOAD_TIMEOUT_MS);
  try {
    try {
      for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        if (deadline.aborted) throw new HttpError(408, 'request_timeout', `the upload took longer than ${UPLOAD_TIMEOUT_MS / 1000} s`);
        bytes += chunk.length;
        if (bytes > limit) throw tooBig();
        if (head.length < 2) head = Buffer.concat([head, chunk.subarray(0, 2)]);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    if (bytes === 0) throw new HttpError(400, 'bad_request', 'body is empty: send the SQL to import');
    const upload = { sha256: hash.digest('hex'), bytes, gzip: head[0] === 0x1f && head[1] === 0x8b };
    await rename(temp, importPath(upload.sha256, upload.gzip));
    return upload;
  } catch (error) {
    drain();
    await rm(temp, { force: true });
    throw error;
  }
}

/** The dump file of a database, if a dump job of that database made it and it is still kept. */
export async function dumpFile(db: Knex, database: DatabaseRow, sha256: string): Promise<{ path: string; bytes: number } | null> {
  const job = await db('jobs')
    .where({ op: 'database.dump', status: 'succeeded' })
    .whereRaw(`payload #>> '{database,id}' = ?`, [database.id])
    .whereRaw(`result ->> 'sha256' = ?`, [sha256])
    .first('id');
  if (!job) return null;
  const path = dumpPath(sha256);
  const size = await stat(path).then(
    (s) => s.size,
    () => null,
  );
  return size === null ? null : { path, bytes: size };
}

export const readDump = (path: string) => createReadStream(path);

/** Removes dumps, uploads and temp files older than the TTL (`now` for tests). */
export async function collectDatabaseFiles(options: { dir?: string; now?: number } = {}): Promise<string[]> {
  const dir = databaseFilesDir(options.dir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const oldest = (options.now ?? Date.now()) - DATABASE_FILES_TTL_MS;
  const removed: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const old = await stat(path).then(
      (s) => s.isFile() && s.mtimeMs < oldest,
      () => false,
    );
    if (old) {
      await rm(path, { force: true });
      removed.push(name);
    }
  }
  return removed;
}
