/**
 * SHA-512-crypt (`$6$`), which nginx's auth_basic verifies through crypt(3) (glibc/libxcrypt on
 * Debian). unixcrypt implements Drepper's specification in JavaScript: 5000 rounds take tens of
 * milliseconds, so hashing runs in a worker thread and a site with 100 users never stalls the
 * gateway's event loop. The salt is ours: 16 characters from randomBytes, unbiased over 64
 * symbols (unixcrypt's own generator never picks 'z').
 */
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const SALT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The specification's default and a deliberate ceiling: nginx hashes on every request, in the
 * worker that serves it, so more rounds would make basic auth a denial of service on the proxy.
 */
export const SHA512_CRYPT_ROUNDS = 5000;

export function cryptSalt(length = 16): string {
  return [...randomBytes(length)].map((b) => SALT_ALPHABET[b & 0x3f]).join('');
}

// Plain JavaScript (no loader needed in the worker), importing unixcrypt from where this module resolves it.
const WORKER_SOURCE = `
import { parentPort } from 'node:worker_threads';
const { encrypt } = await import(${JSON.stringify(import.meta.resolve('unixcrypt'))});
parentPort.on('message', ({ id, password, setting }) => {
  try {
    parentPort.postMessage({ id, hash: encrypt(password, setting) });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error?.message ?? error) });
  }
});
`;

type Pending = { resolve(hash: string): void; reject(error: Error): void };

let worker: Worker | null = null;
const pending = new Map<number, Pending>();
let nextId = 0;

function hashingWorker(): Worker {
  if (worker) return worker;
  // No loader flags: the worker is plain JavaScript (and a tsx loader in it would keep the process alive).
  const started = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`), { execArgv: [] });
  started.on('message', ({ id, hash, error }: { id: number; hash?: string; error?: string }) => {
    const waiter = pending.get(id);
    pending.delete(id);
    if (hash !== undefined) waiter?.resolve(hash);
    else waiter?.reject(new Error(`SHA-512-crypt failed: ${error}`));
    if (pending.size === 0) started.unref();
  });
  const fail = (error: Error) => {
    if (worker === started) worker = null;
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  started.on('error', fail);
  started.on('exit', (code) => fail(new Error(`the password hashing worker exited (${code})`)));
  worker = started;
  return started;
}

/** `$6$<salt>$<86 characters>`; `salt` may start with `rounds=N$` (test vectors). */
export function sha512Crypt(password: string, salt = cryptSalt()): Promise<string> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    // Referenced while it has work (the process waits for it), idle it lets the process exit.
    const hasher = hashingWorker();
    hasher.ref();
    hasher.postMessage({ id, password, setting: `$6$${salt}` });
  });
}
