/** A gateway and handlers with secrets configured: a fresh key in a private file, named by UP_SECRETS_KEY_FILE. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSecretsKeyFile, loadSecretsKey } from '../../lib/secrets/sealing.ts';

export interface SecretsKey {
  key: Buffer;
  /** Removes the key file, and the variable if it still names it. */
  remove(): void;
}

export function useSecretsKey(parent = tmpdir()): SecretsKey {
  const dir = mkdtempSync(join(parent, 'up-secrets-key-'));
  const file = ensureSecretsKeyFile(dir);
  process.env.UP_SECRETS_KEY_FILE = file;
  return {
    key: loadSecretsKey()!,
    remove() {
      if (process.env.UP_SECRETS_KEY_FILE === file) delete process.env.UP_SECRETS_KEY_FILE;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
