/**
 * Checks an uploaded site archive (tar.gz) before anything stores or extracts it: only
 * regular files and directories, relative normalized names of safe characters, bounded
 * sizes and counts. A tar header is 512 bytes; names and sizes are read from ustar fields
 * (pax/GNU long-name records are refused rather than interpreted).
 */
import { gunzipSync } from 'node:zlib';
import { FieldError } from './web.ts';

export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const MAX_EXPANDED_BYTES = 512 * 1024 * 1024;
const MAX_ENTRIES = 20_000;
const NAME = /^[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~ -]{0,127}$/;

export interface ArchiveSummary {
  files: number;
  bytes: number;
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

export function inspectArchive(gz: Buffer): ArchiveSummary {
  if (gz.length > MAX_ARCHIVE_BYTES) throw new FieldError('body', `is larger than ${MAX_ARCHIVE_BYTES} bytes`);
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_EXPANDED_BYTES });
  } catch {
    throw new FieldError('body', 'is not a gzip-compressed tar archive (or expands beyond the limit)');
  }
  let offset = 0;
  let files = 0;
  let bytes = 0;
  let entries = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (++entries > MAX_ENTRIES) throw new FieldError('body', `has more than ${MAX_ENTRIES} entries`);
    // Only POSIX ustar has a name prefix at 345; old GNU headers keep other data there.
    const prefix = header.subarray(257, 263).toString('latin1') === 'ustar\0' ? field(header, 345, 155) : '';
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 0x30);
    const path = name.replace(/^\.\//, '').replace(/\/$/, '');
    if (!Number.isSafeInteger(size) || size < 0) throw new FieldError('body', `has an entry with an invalid size`);
    if (type !== '0' && type !== '5') throw new FieldError('body', `may hold only files and directories (${JSON.stringify(path)} is not one)`);
    if (path !== '.' && path !== '' && !path.split('/').every((segment) => NAME.test(segment) && segment !== '.' && segment !== '..')) {
      throw new FieldError('body', `has an unsafe name ${JSON.stringify(name)}`);
    }
    if (type === '0') {
      files++;
      bytes += size;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  if (files === 0) throw new FieldError('body', 'holds no files');
  return { files, bytes };
}
