/**
 * Secrets at rest and in messages: AES-256-GCM with a 32-byte key that the gateway and the
 * handlers that deliver secrets read from the file UP_SECRETS_KEY_FILE. The additional data binds
 * each ciphertext to its owner and name, so a sealed value copied to another row (or another
 * tenant's message) does not open.
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

/** A short digest of a sealed value: which version of a secret a container has (changes with every PUT, says nothing of the value). */
export const sealedDigest = (sealed: string) => createHash('sha256').update(sealed).digest('hex').slice(0, 16);

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
 * The key in UP_SECRETS_KEY_FILE: 32 raw bytes, or one line of their base64 or hex. Null when
 * the variable is not set (the caller says what that means); a file that is unreadable, or
 * readable by others, is an error that names the file, never its content.
 */
export function loadSecretsKey(env: NodeJS.ProcessEnv = process.env): Buffer | null {
  const file = env.UP_SECRETS_KEY_FILE?.trim();
  if (!file) return null;
  const cached = keys.get(file);
  if (cached) return cached;
  let raw: Buffer;
  try {
    // Others must not read it; its group may (a Kubernetes secret volume is readable by the pod's fsGroup).
    if (statSync(file).mode & 0o007) throw new SealError(`UP_SECRETS_KEY_FILE: ${file} must not be readable by others (chmod 600)`);
    raw = readFileSync(file);
  } catch (error) {
    if (error instanceof SealError) throw error;
    throw new SealError(`UP_SECRETS_KEY_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const key = parseKey(raw);
  if (!key) throw new SealError(`UP_SECRETS_KEY_FILE: ${file} must hold ${KEY_BYTES} bytes (raw, base64 or hex)`);
  keys.set(file, key);
  return key;
}
const keys = new Map<string, Buffer>();

function parseKey(raw: Buffer): Buffer | null {
  if (raw.length === KEY_BYTES) return raw;
  const text = raw.toString('utf8').trim();
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
