/**
 * TSIG secrets live only in the handler's configuration: UP_TSIG_KEYS_DIR holds one file per key
 * name with the base64 secret (mode 0600). Messages name the key; the secret never travels.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { TsigAlgorithm, TsigKey } from '../../lib/dns/tsig.ts';
import { PermanentError } from '../../lib/errors.ts';
import { KEY_NAME_PATTERN } from '../../queues/dns/ops.ts';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export async function loadTsigKey(name: string, algorithm: TsigAlgorithm, dir = process.env.UP_TSIG_KEYS_DIR): Promise<TsigKey> {
  if (!dir) throw new PermanentError('UP_TSIG_KEYS_DIR is not set: this handler has no TSIG keys', { code: 'TSIG_KEY_MISSING' });
  if (!new RegExp(KEY_NAME_PATTERN).test(name)) throw new PermanentError(`invalid TSIG key name "${name}"`, { code: 'TSIG_KEY_INVALID' });
  const path = join(dir, name);
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PermanentError(`TSIG key "${name}": cannot open ${path} (${code ?? 'error'})`, { code: 'TSIG_KEY_MISSING' });
  }
  try {
    const { mode } = await file.stat();
    if (mode & 0o077) {
      throw new PermanentError(
        `TSIG key "${name}": ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
        { code: 'TSIG_KEY_EXPOSED' },
      );
    }
    const text = (await file.readFile('utf8')).trim();
    if (!BASE64.test(text))
      throw new PermanentError(`TSIG key "${name}": ${path} does not hold a base64 secret`, { code: 'TSIG_KEY_INVALID' });
    return { name, algorithm, secret: Buffer.from(text, 'base64') };
  } finally {
    await file.close();
  }
}
