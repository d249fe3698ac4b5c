/**
 * Uploading a website's content. The archive streams into a uniquely named temp file in the
 * content store while it is hashed and checked (inflated asynchronously, every tar header as
 * it arrives), so an upload never holds the archive or its expansion in memory nor blocks the
 * event loop, and a bad or oversized one stops at its first bad byte. Then, in one
 * transaction, the file takes its checksum name, the site records it as its current archive
 * and every member host gets a website.deploy job. Afterwards archives nothing needs any more
 * are collected.
 *
 * Limits: one upload at a time per user; the expansion of a site's content is bounded by what
 * the owner's plan (diskGb) leaves after their other sites, and what the store keeps for an
 * owner (current archives plus those pending jobs wait for) by the same figure.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import type { JobRow } from '../jobs-store.ts';
import { effectiveLimits, type UserRow } from '../users/store.ts';
import { contentStoreDir } from '../../lib/config.ts';
import type { WebsiteRow } from './store.ts';
import { proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import {
  claimUpload,
  collectContent,
  expandedUsage,
  placeArchive,
  type StoredArchive,
  releaseUpload,
  storeUsage,
  tempArchivePath,
  UPLOAD_TIMEOUT_MS,
} from './content-store.ts';
import { ArchiveTooLarge, inspectArchive, MAX_ARCHIVE_BYTES, slices } from '../../lib/validate/web-archive.ts';
import type { Caller } from '../plugins/auth.ts';
import { HttpError, conflict } from '../plugins/errors.ts';
import type { Outbox } from '../outbox.ts';
import { deployJobs } from './plans.ts';
import { requesterOf, type JobPlan } from '../plan.ts';
import { tenantJobs } from '../users/plans.ts';

const GiB = 1024 ** 3;
/** Whatever the plan, one upload expands to at most this much (admins' sites included). */
export const MAX_EXPANDED_BYTES = 16 * GiB;
const GZIP_TYPES = ['application/gzip', 'application/x-gzip'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The request body as OpenAPI shows it (and as the JSON form is validated). */
export const ContentUpload = {
  content: {
    'application/gzip': {
      schema: {
        description: 'the tar.gz itself (files and directories only; `tar --format=ustar -czf - -C dir .`)',
        contentMediaType: 'application/gzip',
      },
    },
    'application/json': {
      schema: Type.Object(
        {
          archive: Type.String({
            minLength: 4,
            maxLength: Math.ceil(MAX_ARCHIVE_BYTES / 3) * 4,
            contentEncoding: 'base64',
            description: 'the tar.gz, base64-encoded',
          }),
        },
        {
          additionalProperties: false,
          examples: [
            {
              archive:
                'H4sIAAAAAAAAA+3RSwrCMBCA4aw9RU+QZMhrU7yLYCGCL2wFj29aVy24EIki/t9mhiwyL21UdbZIIUyxWMYpl+Cs8zY93pNLoppQvzWlrv2wuZSS7/6zHO5HaLM7brubzsNhX6vGuI/o/fP7S5zfX8RFp5qPLPHP799mWff5dG5NSVbf7gYAAAAAAAAAAAAAAADAK+550WzzACgAAA==',
            },
          ],
        },
      ),
    },
  },
};

/** What the API documentation says about the limits. */
export const CONTENT_LIMITS =
  `Ustar or GNU tar, gzip-compressed, at most ${MAX_ARCHIVE_BYTES} bytes; files and directories only, every header intact. ` +
  "It may expand to what the site owner's plan (diskGb) leaves after the content of their other websites (413 beyond). " +
  'The content store keeps per owner at most that much of their archives, current ones and those pending deploys wait for (422 beyond). ' +
  'One upload at a time per user (409).';

/** The body limit of the JSON form (base64 of the largest archive); the gzip form is counted as it streams. */
export const CONTENT_JSON_BODY_LIMIT = Math.ceil(MAX_ARCHIVE_BYTES / 3) * 4 + 1024;

/** application/gzip reaches the route as the request stream itself, unread. */
export function acceptArchiveStreams(app: FastifyInstance): void {
  app.addContentTypeParser(GZIP_TYPES, (_request, payload, done) => done(null, payload));
}

interface Upload {
  chunks: AsyncIterable<Buffer>;
  /** Bytes announced (Content-Length), when known. */
  declared: number | null;
  /** Reads and discards what the client still sends, so that it gets the answer. */
  drain(): void;
}

function uploadOf(body: unknown): Upload {
  if (body && typeof (body as IncomingMessage).pipe === 'function') {
    const stream = body as IncomingMessage;
    const length = Number(stream.headers?.['content-length']);
    return {
      // Not destroyed when reading stops early: the client must still get the answer.
      chunks: stream.iterator({ destroyOnReturn: false }),
      declared: Number.isSafeInteger(length) ? length : null,
      drain: () => {
        let drained = 0;
        stream.on('data', (chunk: Buffer) => {
          drained += chunk.length;
          // Past the largest archive there is nothing to be polite about: hang up.
          if (drained > MAX_ARCHIVE_BYTES) stream.socket?.destroy();
        });
        stream.resume();
      },
    };
  }
  const encoded = (body as { archive?: unknown } | null)?.archive;
  if (typeof encoded === 'string' && encoded.length > 0 && BASE64.test(encoded)) {
    const archive = Buffer.from(encoded, 'base64');
    return {
      chunks: (async function* () {
        yield* slices(archive);
      })(),
      declared: archive.length,
      drain: () => undefined,
    };
  }
  throw new HttpError(415, 'unsupported_media_type', 'send the archive as application/gzip, or as JSON {"archive": "<base64>"}');
}

interface Budget {
  maxExpandedBytes: number;
  /** What the store may keep for the owner, and keeps now (without the site's current archive); null: no quota. */
  store: { quota: number; used: number } | null;
}

/** What the site owner's plan leaves for this site's content. */
async function budgetOf(db: Knex, site: WebsiteRow): Promise<Budget> {
  const owner: Pick<UserRow, 'role' | 'limits'> = await db('users').where({ id: site.owner_id }).first('role', 'limits');
  if (owner.role === 'admin') return { maxExpandedBytes: MAX_EXPANDED_BYTES, store: null };
  const { diskGb } = effectiveLimits(owner);
  const disk = diskGb * GiB;
  const others = await expandedUsage(db, site.owner_id, site.id);
  if (others >= disk) {
    throw new HttpError(
      422,
      'limit_reached',
      `plan limit reached: the content of your other websites uses all of your ${diskGb} GB of disk`,
      [`diskGb: ${others} bytes used of ${disk}`],
    );
  }
  return {
    maxExpandedBytes: Math.min(disk - others, MAX_EXPANDED_BYTES),
    store: { quota: disk, used: await storeUsage(db, site.owner_id, site.id) },
  };
}

function checkStore(budget: Budget, bytes: number): void {
  if (budget.store && budget.store.used + bytes > budget.store.quota) {
    throw new HttpError(
      422,
      'limit_reached',
      `plan limit reached: the content store keeps at most ${budget.store.quota} bytes of your archives`,
      [`content store: ${budget.store.used} bytes kept (current archives and those pending deploys wait for), ${bytes} more asked`],
    );
  }
}

/** Streams the upload into `temp` while hashing and checking it; the file holds exactly the bytes checked. */
async function receive(upload: Upload, temp: string, maxExpandedBytes: number) {
  const hash = createHash('sha256');
  let bytes = 0;
  const file = await open(temp, 'wx', 0o600);
  try {
    const summary = await inspectArchive(
      (async function* () {
        for await (const chunk of upload.chunks) {
          bytes += chunk.length;
          if (bytes > MAX_ARCHIVE_BYTES)
            throw new HttpError(413, 'payload_too_large', `the archive is larger than ${MAX_ARCHIVE_BYTES} bytes`);
          hash.update(chunk);
          await file.write(chunk);
          yield chunk;
        }
      })(),
      { maxExpandedBytes, signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS) },
    );
    await file.sync();
    return { sha256: hash.digest('hex'), bytes, summary };
  } finally {
    await file.close();
  }
}

function asHttpError(error: unknown, maxExpandedBytes: number): unknown {
  if (error instanceof ArchiveTooLarge) {
    return new HttpError(
      413,
      'payload_too_large',
      `the archive expands to more than ${maxExpandedBytes} bytes, what the plan leaves for this website's content`,
    );
  }
  if ((error as Error)?.name === 'AbortError' || (error as Error)?.name === 'TimeoutError')
    return new HttpError(408, 'request_timeout', `the upload took longer than ${UPLOAD_TIMEOUT_MS / 1000} s`);
  return error;
}

/**
 * Receives an uploaded archive for something of `site`'s owner (the site's content, or an app's
 * source, whose site's budget it counts against) into the content store, and plans what uses it
 * in the transaction that places it. One upload at a time per user; archives nothing needs any
 * more are collected afterwards. Returns the jobs.
 */
export async function receiveArchive(options: {
  db: Knex;
  outbox: Outbox;
  log: FastifyBaseLogger;
  caller: Caller;
  site: WebsiteRow;
  body: unknown;
  use(trx: Knex.Transaction, temp: string, archive: StoredArchive): Promise<JobPlan[]>;
}): Promise<JobRow[]> {
  const { db, outbox, caller, site } = options;
  const upload = uploadOf(options.body);
  const claim = await claimUpload(db, caller.userId);
  if (!claim) {
    upload.drain();
    throw conflict('another upload of yours is in progress; send the next one when it has finished (one upload at a time per user)');
  }
  let temp: string | null = null;
  let jobs: JobRow[];
  try {
    const budget = await budgetOf(db, site);
    if (upload.declared !== null && upload.declared > MAX_ARCHIVE_BYTES) {
      throw new HttpError(413, 'payload_too_large', `the archive is larger than ${MAX_ARCHIVE_BYTES} bytes`);
    }
    if (upload.declared !== null) checkStore(budget, upload.declared);
    await mkdir(contentStoreDir(), { recursive: true, mode: 0o700 });
    temp = tempArchivePath();
    const received = await receive(upload, temp, budget.maxExpandedBytes).catch((error) => {
      throw asHttpError(error, budget.maxExpandedBytes);
    });
    checkStore(budget, received.bytes);
    const archive = { sha256: received.sha256, bytes: received.bytes, expandedBytes: received.summary.expandedBytes };
    const placing = temp;
    jobs = await outbox.submitPlans(requesterOf(caller), (trx) => options.use(trx, placing, archive));
    temp = null;
  } catch (error) {
    upload.drain();
    throw error;
  } finally {
    if (temp) await rm(temp, { force: true });
    await releaseUpload(db, caller.userId, claim);
  }
  collectContent(db).catch((error) => options.log.warn({ err: error }, 'collecting the content store failed'));
  return jobs;
}

/**
 * POST /v1/websites/:site/content: the archive becomes the site's current content, with a
 * website.deploy planned on every member host.
 */
export function deployContent(options: {
  db: Knex;
  outbox: Outbox;
  log: FastifyBaseLogger;
  caller: Caller;
  site: WebsiteRow;
  body: unknown;
}): Promise<JobRow[]> {
  return receiveArchive({
    ...options,
    use: async (trx, temp, archive) => {
      await placeArchive(trx, temp, options.site.id, archive);
      return contentJobs(trx, options.site, archive);
    },
  });
}

/** One website.deploy per member host of the site's group, after the owner's Unix user where a member lacks it. */
async function contentJobs(trx: Knex.Transaction, site: WebsiteRow, archive: { sha256: string; bytes: number }) {
  const proxy: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
  const members = await proxyMembers(trx, proxy.id);
  return [
    ...(await tenantJobs(trx, [site.owner_id], members)),
    ...(await deployJobs(trx, proxy, members, site, { sha256: archive.sha256, bytes: archive.bytes })),
  ];
}
