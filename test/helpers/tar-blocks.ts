/**
 * Hand-made tar blocks for tests that need archives no tar program writes: bad checksums,
 * entries hidden in another entry's data, data after the end, zip bombs.
 */
import { gzipSync } from 'node:zlib';

export interface EntrySpec {
  name: string;
  /** Tar typeflag: '0' file, '5' directory, '2' symlink, '3' character device, ... */
  type?: string;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** The POSIX ustar name prefix. */
  prefix?: string;
  magic?: 'posix' | 'gnu' | 'none';
  /** Raw replacements of whole fields, e.g. { 124: '00000000012x' } (offset: text). */
  fields?: Record<number, string>;
  /** Write a wrong checksum. */
  badChecksum?: boolean;
}

const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\0`;

export function header(spec: EntrySpec): Buffer {
  const block = Buffer.alloc(512);
  const put = (offset: number, text: string) => block.write(text, offset, 'latin1');
  put(0, spec.name);
  put(100, octal(spec.type === '5' ? 0o755 : 0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(spec.size ?? 0, 12));
  put(136, octal(1_700_000_000, 12));
  put(156, spec.type ?? '0');
  if (spec.linkname) put(157, spec.linkname);
  if ((spec.magic ?? 'posix') === 'posix') put(257, 'ustar\x0000');
  else if (spec.magic === 'gnu') put(257, 'ustar  \0');
  put(265, 'root');
  put(297, 'root');
  put(329, octal(spec.devmajor ?? 0, 8));
  put(337, octal(spec.devminor ?? 0, 8));
  if (spec.prefix) put(345, spec.prefix);
  for (const [offset, text] of Object.entries(spec.fields ?? {})) put(Number(offset), text);
  put(148, '        ');
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, `${(spec.badChecksum ? sum + 1 : sum).toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** Data padded to whole blocks. */
export const data = (content: Buffer | string) => {
  const bytes = Buffer.from(content);
  return Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
};

/** A file entry with its data. */
export const file = (name: string, content: string, extra: Partial<EntrySpec> = {}) =>
  Buffer.concat([header({ name, size: Buffer.byteLength(content), ...extra }), data(content)]);

/** Blocks followed by the end-of-archive marker (two zero blocks). */
export const tar = (...blocks: Buffer[]) => Buffer.concat([...blocks, Buffer.alloc(1024)]);

export const tgz = (...blocks: Buffer[]) => gzipSync(tar(...blocks));

/**
 * The review's archive: its first member has a wrong checksum and "holds" a symlink to /etc
 * and a character device as its data. A reader that skips data by size sees one harmless
 * file; GNU tar skips the bad header, resynchronises and extracts the two hidden entries.
 */
export function hiddenEntriesArchive(): Buffer {
  const hidden = Buffer.concat([
    header({ name: 'etc', type: '2', linkname: '/etc' }),
    header({ name: 'null', type: '3', devmajor: 1, devminor: 3 }),
  ]);
  return tgz(header({ name: 'index.html', size: hidden.length, badChecksum: true }), hidden, file('ok.html', 'ok\n'));
}

/**
 * A gzip bomb: one file of `expandedBytes` zeros, as gzip members of 64 MiB each (gzip
 * readers, zlib's and GNU gzip's alike, join members): about 1 MB per GiB it expands to.
 */
export function gzipBomb(expandedBytes: number): Buffer {
  const piece = 64 * 1024 * 1024;
  const member = gzipSync(Buffer.alloc(piece), { level: 9 });
  const members = [gzipSync(header({ name: 'bomb.bin', size: expandedBytes }))];
  for (let left = expandedBytes; left > 0; left -= piece) members.push(left >= piece ? member : gzipSync(Buffer.alloc(left), { level: 9 }));
  members.push(gzipSync(Buffer.alloc(1024)));
  return Buffer.concat(members);
}
