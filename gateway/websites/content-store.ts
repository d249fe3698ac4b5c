/**
 * The content store: uploaded site archives as files named by their sha256 (in
 * contentStoreDir(), shared by gateways and website.deploy handlers), what references them
 * (each website's current archive, and deploy jobs that have not ended), who is uploading,
 * and the collection of archives nothing references any more.
 *
 * Placing an archive (with the reference that keeps it) and collecting run under one
 * PostgreSQL advisory lock, shared by uploads and exclusive for the collector: the collector
 * either sees the reference or has finished before the file is placed, never in between.
 */
import { randomUUID } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { contentStoreDir } from '../../lib/config.ts';

const STORE_LOCK = 0x75_70_5f_63; // "up_c"
const ARCHIVE_FILE = /^([0-9a-f]{64})\.tar\.gz$/;
const TEMP_FILE = /^\.upload-[0-9a-f-]{36}\.tmp$/;
/** Jobs of these operations in these states will still read their archive. */
const PENDING = ['accepted', 'queued', 'running', 'retrying'];
const READERS = ['website.deploy', 'app.build'];
/** An upload's claim and temp file outlive no upload: older ones are a crashed gateway's. */
export const UPLOAD_TIMEOUT_MS = 10 * 60_000;
const STALE_MS = 2 * UPLOAD_TIMEOUT_MS;

export const archivePath = (sha256: string, dir = contentStoreDir()) => join(dir, `${sha256}.tar.gz`);
export const tempArchivePath = (dir = contentStoreDir()) => join(dir, `.upload-${randomUUID()}.tmp`);

/** What a website serves, as recorded on its row. */
export interface StoredArchive {
  sha256: string;
  bytes: number;
  expandedBytes: number;
}

/**
 * One upload at a time per user, across gateways: a claim row, or null when another upload
 * of the user holds one (a claim older than the upload timeout is a crashed gateway's).
 */
export async function claimUpload(db: Knex, userId: string): Promise<string | null> {
  const claim = randomUUID();
  const { rows } = await db.raw(
    `INSERT INTO content_uploads (user_id, claim, started_at) VALUES (?, ?, now())
     ON CONFLICT (user_id) DO UPDATE SET claim = EXCLUDED.claim, started_at = now()
       WHERE content_uploads.started_at < now() - make_interval(secs => ?)
     RETURNING claim`,
    [userId, claim, STALE_MS / 1000],
  );
  return rows.length ? claim : null;
}

export async function releaseUpload(db: Knex, userId: string, claim: string): Promise<void> {
  await db('content_uploads').where({ user_id: userId, claim }).delete();
}

/** Inflated bytes of the current content of the owner's sites, except one (the one being replaced). */
export async function expandedUsage(db: Knex, ownerId: string, exceptSiteId: string): Promise<number> {
  const row = await db('websites').where({ owner_id: ownerId }).whereNot({ id: exceptSiteId }).sum({ n: 'content_expanded_bytes' }).first();
  return Number(row?.n ?? 0);
}

/**
 * Bytes the store keeps for an owner's sites: each site's current archive (but `exceptSiteId`'s,
 * which the upload replaces) and every archive a pending deploy job of theirs waits for.
 */
export async function storeUsage(db: Knex, ownerId: string, exceptSiteId: string): Promise<number> {
  const { rows } = await db.raw(
    `SELECT COALESCE(SUM(bytes), 0) AS n FROM (
       SELECT content_sha256 AS sha256, content_bytes AS bytes FROM websites
        WHERE owner_id = ? AND id <> ? AND content_sha256 IS NOT NULL
       UNION
       SELECT payload #>> '{archive,sha256}', (payload #>> '{archive,bytes}')::bigint FROM jobs
        WHERE op = 'website.deploy' AND status IN (${PENDING.map(() => '?').join(', ')})
          AND payload #>> '{site,id}' IN (SELECT id::text FROM websites WHERE owner_id = ?)
       UNION
       SELECT payload #>> '{archive,sha256}', (payload #>> '{archive,bytes}')::bigint FROM jobs
        WHERE op = 'app.build' AND status IN (${PENDING.map(() => '?').join(', ')}) AND owner_id = ?
     ) kept`,
    [ownerId, exceptSiteId, ...PENDING, ownerId, ...PENDING, ownerId],
  );
  return Number(rows[0].n);
}

/**
 * Gives a checked upload its checksum name and records it as the site's current archive,
 * inside the caller's transaction (which then inserts the deploy jobs that read it). A file
 * already there under that name holds the same bytes: the upload is done.
 */
export async function placeArchive(trx: Knex.Transaction, temp: string, siteId: string, archive: StoredArchive): Promise<void> {
  await placeFile(trx, temp, archive.sha256);
  await trx('websites')
    .where({ id: siteId })
    .update({ content_sha256: archive.sha256, content_bytes: archive.bytes, content_expanded_bytes: archive.expandedBytes });
}

/**
 * Gives a checked upload its checksum name, inside the caller's transaction, which must also
 * write what references it (a pending job that reads it): the collector cannot run in between.
 */
export async function placeFile(trx: Knex.Transaction, temp: string, sha256: string): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock_shared(?::bigint)', [STORE_LOCK]);
  const final = archivePath(sha256);
  if (
    await stat(final).then(
      () => true,
      () => false,
    )
  )
    await rm(temp, { force: true });
  else await rename(temp, final);
}

/** Every archive something still needs: a site's current one, or one a pending deploy job will read. */
export async function referencedArchives(db: Knex): Promise<Set<string>> {
  const sites: { sha256: string }[] = await db('websites').whereNotNull('content_sha256').distinct({ sha256: 'content_sha256' });
  const { rows: jobs } = await db.raw(
    `SELECT DISTINCT payload #>> '{archive,sha256}' AS sha256 FROM jobs
      WHERE op IN (${READERS.map(() => '?').join(', ')}) AND status IN (${PENDING.map(() => '?').join(', ')})`,
    [...READERS, ...PENDING],
  );
  return new Set([...sites, ...(jobs as { sha256: string }[])].map((r) => r.sha256));
}

/**
 * Removes archives that nothing references and temp files of uploads that died. `beforeRemove`
 * runs between deciding and removing (tests use it to race an upload against the collector).
 */
export async function collectContent(db: Knex, options: { dir?: string; beforeRemove?: () => Promise<void> } = {}): Promise<string[]> {
  const dir = options.dir ?? contentStoreDir();
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?::bigint)', [STORE_LOCK]);
    const keep = await referencedArchives(trx);
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const stale = Date.now() - STALE_MS;
    const doomed: string[] = [];
    for (const name of names) {
      const archive = ARCHIVE_FILE.exec(name);
      if (archive && !keep.has(archive[1])) doomed.push(name);
      else if (
        TEMP_FILE.test(name) &&
        (await stat(join(dir, name)).then(
          (s) => s.mtimeMs < stale,
          () => false,
        ))
      )
        doomed.push(name);
    }
    await options.beforeRemove?.();
    for (const name of doomed) await rm(join(dir, name), { force: true });
    return doomed;
  });
}
