/**
 * Checks an uploaded site archive (tar.gz) as it streams in, before anything stores or
 * extracts it: only regular files and directories, relative normalized names of safe
 * characters, bounded counts and expansion. Gzip is inflated asynchronously (zlib on the
 * thread pool, backpressured): neither the whole archive nor its expansion is ever in memory.
 *
 * GNU tar extracts it on the host, so this reader accepts only what GNU tar reads the same
 * way: every header's checksum is verified (GNU tar skips a bad header and resynchronises on
 * the next valid one, which would show it entries this check never saw), numeric fields must
 * be plain octal, a directory carries no data, nothing but zeros follows the end-of-archive
 * block, and pax/GNU extension records are refused rather than interpreted. Tolerant readers
 * (tar-stream, node-tar) smooth exactly these differences over, which is why the framing is
 * checked here block by block.
 */
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.ts';

export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 20_000;
const BLOCK = 512;
const NAME = /^[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~ -]{0,127}$/;
/** A numeric header field as GNU tar writes it: optional leading spaces, octal digits, then spaces/NULs. */
const OCTAL = /^ *[0-7]+[ \0]*$/;
const ZEROS = Buffer.alloc(64 * 1024);

/** The archive (compressed, or once inflated) is larger than allowed: 413, not 400. */
export class ArchiveTooLarge extends Error {}

export interface ArchiveSummary {
  files: number;
  /** Sum of the files' sizes. */
  bytes: number;
  /** Size of the inflated tar stream: what the expansion limit is measured against. */
  expandedBytes: number;
}

const ENTRY_KINDS: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a pax extended header (create the archive with tar --format=ustar)',
  g: 'a pax global header (create the archive with tar --format=ustar)',
  L: 'a GNU long name record (create the archive with tar --format=ustar; names up to 255 characters)',
  K: 'a GNU long link record',
};

const text = (block: Buffer, offset: number, length: number) => block.toString('latin1', offset, offset + length);

function cString(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.toString('latin1', 0, end === -1 ? length : end);
}

function isZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const piece = bytes.subarray(at, at + ZEROS.length);
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}

/** The header checksum: the unsigned sum of its bytes, the checksum field counted as spaces. */
function checksumOf(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i];
  for (let i = 156; i < BLOCK; i++) sum += block[i];
  return sum;
}

/**
 * The tar stream, fed in chunks of any size; throws at the first thing it refuses, so the
 * caller stops reading (and inflating) there.
 */
export class TarCheck {
  private readonly header = Buffer.alloc(BLOCK);
  private headerLength = 0;
  private offset = 0;
  /** Data (with its padding) of the current entry still to pass over. */
  private skip = 0;
  private ended = false;
  private entries = 0;
  private files = 0;
  private bytes = 0;

  constructor(private readonly maxExpandedBytes: number) {}

  write(chunk: Buffer): void {
    if (this.offset + chunk.length > this.maxExpandedBytes) {
      throw new ArchiveTooLarge(`expands to more than ${this.maxExpandedBytes} bytes`);
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) {
        if (!isZero(chunk.subarray(at))) throw new InputError('body', 'has data after its end-of-archive block');
        break;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(BLOCK - this.headerLength, chunk.length - at);
      chunk.copy(this.header, this.headerLength, at, at + n);
      this.headerLength += n;
      at += n;
      if (this.headerLength === BLOCK) {
        this.headerLength = 0;
        this.check(this.header, this.offset + at - BLOCK);
      }
    }
    this.offset += chunk.length;
  }

  /** The stream ended: it must have ended as an archive does. */
  end(): ArchiveSummary {
    if (!this.ended) throw new InputError('body', 'is truncated: the tar stream ends without its end-of-archive block');
    if (this.files === 0) throw new InputError('body', 'holds no files');
    return { files: this.files, bytes: this.bytes, expandedBytes: this.offset };
  }

  private check(block: Buffer, at: number): void {
    if (isZero(block)) {
      this.ended = true;
      return;
    }
    const where = `at byte ${at} of the tar stream`;
    const checksum = text(block, 148, 8);
    if (!OCTAL.test(checksum) || parseInt(checksum, 8) !== checksumOf(block)) {
      throw new InputError('body', `has a tar header with a bad checksum ${where} (a corrupted or crafted archive)`);
    }
    const magic = text(block, 257, 8);
    const posix = magic === 'ustar\x0000';
    if (!posix && magic !== 'ustar  \0') throw new InputError('body', `has a header ${where} that is neither POSIX ustar nor GNU tar`);
    for (const [field, offset, length] of [
      ['mode', 100, 8],
      ['uid', 108, 8],
      ['gid', 116, 8],
      ['mtime', 136, 12],
    ] as const) {
      // Base-256 (first byte 0x80 or 0xff) is how GNU tar writes values octal cannot hold.
      if (block[offset] !== 0x80 && block[offset] !== 0xff && !OCTAL.test(text(block, offset, length))) {
        throw new InputError('body', `has a tar header with a malformed ${field} field ${where}`);
      }
    }
    const sizeField = text(block, 124, 12);
    if (!OCTAL.test(sizeField)) throw new InputError('body', `has a tar header with a malformed size field ${where}`);
    const size = parseInt(sizeField, 8);
    if (++this.entries > MAX_ENTRIES) throw new InputError('body', `has more than ${MAX_ENTRIES} entries`);

    // Only POSIX ustar has a name prefix at 345; GNU headers keep other data there.
    const prefix = posix ? cString(block, 345, 155) : '';
    const name = prefix ? `${prefix}/${cString(block, 0, 100)}` : cString(block, 0, 100);
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
    if (type !== '0' && type !== '5') {
      throw new InputError(
        'body',
        `may hold only files and directories (${JSON.stringify(name)} is ${ENTRY_KINDS[type] ?? `of tar type ${JSON.stringify(type)}`})`,
      );
    }
    // GNU tar extracts a "file" whose name ends in / as a directory.
    if (type === '0' && name.endsWith('/'))
      throw new InputError('body', `has a file entry named like a directory: ${JSON.stringify(name)}`);
    if (type === '5' && size !== 0) throw new InputError('body', `has a directory entry carrying data: ${JSON.stringify(name)}`);
    const path = name.replace(/^\.\//, '').replace(/\/$/, '');
    const root = type === '5' && (path === '.' || path === '');
    if (!root && !path.split('/').every((segment) => NAME.test(segment) && segment !== '.' && segment !== '..')) {
      throw new InputError('body', `has an unsafe name ${JSON.stringify(name)}`);
    }
    if (type === '0') {
      this.files++;
      this.bytes += size;
    }
    this.skip = Math.ceil(size / BLOCK) * BLOCK;
  }
}

const isZlibError = (error: unknown) =>
  typeof (error as { code?: unknown })?.code === 'string' && /^Z_/.test((error as { code: string }).code);

/**
 * Inflates `gz` (chunks as they arrive) and checks the tar inside; rejects with InputError
 * (bad archive), ArchiveTooLarge (past `maxExpandedBytes`), or whatever the source threw.
 */
export async function inspectArchive(
  gz: Buffer | AsyncIterable<Buffer>,
  options: { maxExpandedBytes: number; signal?: AbortSignal },
): Promise<ArchiveSummary> {
  const check = new TarCheck(options.maxExpandedBytes);
  // The first failure is the cause; the pipeline then aborts the other stages with errors of their own.
  let cause: unknown = null;
  const noted = (error: unknown) => {
    cause ??= error;
    return error;
  };
  try {
    await pipeline(
      async function* () {
        try {
          yield* Buffer.isBuffer(gz) ? slices(gz) : gz;
        } catch (error) {
          throw noted(error);
        }
      },
      createGunzip({ chunkSize: 64 * 1024 }),
      async (inflated: AsyncIterable<Buffer>) => {
        try {
          for await (const chunk of inflated) check.write(chunk);
        } catch (error) {
          throw noted(error);
        }
      },
      { signal: options.signal ?? new AbortController().signal },
    );
  } catch (error) {
    const first = cause ?? error;
    if (isZlibError(first))
      throw new InputError('body', 'is not a gzip-compressed tar archive (or its gzip stream is damaged or followed by other data)');
    throw first;
  }
  return check.end();
}

/** A buffer as 64 KiB pieces, so that inflating it can stop early like a streamed upload. */
export function* slices(buffer: Buffer, size = 64 * 1024): Generator<Buffer> {
  for (let at = 0; at < buffer.length; at += size) yield buffer.subarray(at, at + size);
}
