/**
 * Secrets at rest and in messages: AES-256-GCM with a 32-byte key that the gateway and the
 * handlers that deliver secrets read from the file UP_SECRETS_KEY_FILE. The additional data binds
 * each ciphertext to its owner and name, so a sealed value copied to another row (or another
 * tenant's message) does not open.
 *
 * Rotation: the file may hold several keys, one per line. The first seals; every one opens. A new
 * key goes on the first line (the old one stays below it) on the gateway and the handlers, then
 * `up secrets rekey` seals every stored value again with it; then the old line can go. The file
 * is read again when it changes, so no role needs a restart for it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PermanentError } from '../errors.ts';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** The largest value a secret may hold. */
export const SECRET_MAX_BYTES = 64 * 1024;

/** What a ciphertext is bound to: whose secret, and which. */
export const secretAad = (ownerId: string, name: string) => Buffer.from(`up-secret/${VERSION}/${ownerId}/${name}`);

/** `v1.<base64url(iv | tag | ciphertext)>`: a fresh random IV every time, so equal values seal differently. */
export function seal(key: Buffer, aad: Buffer, plaintext: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', assertKey(key), iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** The plaintext; throws (never returns garbage) for a wrong key, wrong owner/name or any change to the sealed text. */
export function open(key: Buffer, aad: Buffer, sealed: string): Buffer {
  const [version, data, ...rest] = sealed.split('.');
  if (version !== VERSION || !data || rest.length) throw new SealError('not a sealed secret');
  const raw = Buffer.from(data, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealError('sealed secret too short');
  const decipher = createDecipheriv('aes-256-gcm', assertKey(key), raw.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealError('the sealed secret does not open with this key for this owner and name');
  }
}

/** The plaintext, opened by the first of the keys that opens it (a value sealed before a rotation opens with the key before). */
export function openWithAny(keys: readonly Buffer[], aad: Buffer, sealed: string): Buffer {
  for (const key of keys.slice(0, -1)) {
    try {
      return open(key, aad, sealed);
    } catch {}
  }
  const last = keys.at(-1);
  if (!last) throw new SealError('no secrets key to open it with');
  return open(last, aad, sealed);
}

/**
 * Which value of a secret a container has: from the secret's row id and version, so it changes
 * with every new value (and a secret deleted and made again is another), never with a re-seal
 * under a new key; it says nothing of the value.
 */
export const secretDigest = (id: string, version: number) => createHash('sha256').update(`${id}/${version}`).digest('hex').slice(0, 16);

export class SealError extends PermanentError {
  constructor(message: string) {
    super(message, { code: 'SECRET_SEAL' });
  }
}

function assertKey(key: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new SealError(`the secrets key must be ${KEY_BYTES} bytes`);
  return key;
}

/**
 * The keys in UP_SECRETS_KEY_FILE, the one that seals first: 32 raw bytes (one key), or lines of
 * base64 or hex (blank lines and `#` comments skipped). Null when the variable is not set (the
 * caller says what that means); a file that is unreadable, readable by others, or holds a line
 * that is not a key, is an error that names the file and the line, never their content.
 */
export function loadSecretsKeys(env: NodeJS.ProcessEnv = process.env): Buffer[] | null {
  const file = env.UP_SECRETS_KEY_FILE?.trim();
  if (!file) return null;
  let raw: Buffer;
  let stamp: string;
  try {
    const stat = statSync(file);
    // Others must not read it; its group may (a Kubernetes secret volume is readable by the pod's fsGroup).
    if (stat.mode & 0o007) throw new SealError(`UP_SECRETS_KEY_FILE: ${file} must not be readable by others (chmod 600)`);
    stamp = `${stat.ino}/${stat.size}/${stat.mtimeMs}`;
    const cached = keys.get(file);
    if (cached?.stamp === stamp) return cached.keys;
    raw = readFileSync(file);
  } catch (error) {
    if (error instanceof SealError) throw error;
    throw new SealError(`UP_SECRETS_KEY_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = parseKeys(raw, file);
  keys.set(file, { stamp, keys: parsed });
  return parsed;
}

/** The key that seals: the first in UP_SECRETS_KEY_FILE (null when the variable is not set). */
export const loadSecretsKey = (env: NodeJS.ProcessEnv = process.env): Buffer | null => loadSecretsKeys(env)?.[0] ?? null;

const keys = new Map<string, { stamp: string; keys: Buffer[] }>();

function parseKeys(raw: Buffer, file: string): Buffer[] {
  if (raw.length === KEY_BYTES) return [raw];
  const lines = raw.toString('utf8').split('\n');
  const found: Buffer[] = [];
  for (const [i, line] of lines.entries()) {
    const text = line.trim();
    if (!text || text.startsWith('#')) continue;
    const key = parseKey(text);
    if (!key) throw new SealError(`UP_SECRETS_KEY_FILE: line ${i + 1} of ${file} must hold ${KEY_BYTES} bytes (base64 or hex)`);
    found.push(key);
  }
  if (found.length === 0) throw new SealError(`UP_SECRETS_KEY_FILE: ${file} must hold ${KEY_BYTES} bytes (raw, base64 or hex)`);
  return found;
}

function parseKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  return null;
}

export const secretsKeyFile = (dataDir: string) => join(dataDir, 'secrets-key');

/** The embedded default's key: made once in the data directory (0600, base64), kept from then on. */
export function ensureSecretsKeyFile(dataDir: string): string {
  const file = secretsKeyFile(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  chmodSync(file, 0o600);
  return file;
}
