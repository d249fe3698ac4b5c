/**
 * Tenants' secrets in the database: each value sealed with the gateway's key (UP_SECRETS_KEY_FILE),
 * bound to its owner and name. Nothing here returns a value in the clear: the gateway only seals,
 * the handler that delivers a secret to podman opens.
 */
import type { Knex } from 'knex';
import { loadSecretsKey, seal, sealedDigest, secretAad } from '../../lib/secrets/sealing.ts';
import type { ContainerSecret } from '../../queues/containers/ops.ts';
import { HttpError } from '../plugins/errors.ts';

export interface SecretRow {
  id: string;
  owner_id: string;
  name: string;
  ciphertext: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The gateway's key, or a 503 that says what is missing (the value is never stored unsealed instead). */
export function gatewaySecretsKey(): Buffer {
  const key = loadSecretsKey();
  if (!key)
    throw new HttpError(
      503,
      'secrets_unconfigured',
      'secrets are not configured on this gateway: set UP_SECRETS_KEY_FILE (a file holding 32 random bytes, mode 0600) on the gateway and on the containers handlers',
    );
  return key;
}

export const sealFor = (ownerId: string, name: string, value: Buffer) => seal(gatewaySecretsKey(), secretAad(ownerId, name), value);

/** The owner's secrets of these names (missing ones are absent). */
export function secretsNamed(db: Knex, ownerId: string, names: string[]): Knex.QueryBuilder<SecretRow, SecretRow[]> {
  return db<SecretRow>('secrets').where({ owner_id: ownerId }).whereIn('name', names);
}

/** The uses a container spec names, each with its sealed value as a container.apply carries it. */
export async function containerSecretsOf(
  db: Knex,
  ownerId: string,
  uses: readonly { name: string; env?: string }[],
): Promise<ContainerSecret[]> {
  const rows = new Map(
    (
      await secretsNamed(
        db,
        ownerId,
        uses.map((u) => u.name),
      )
    ).map((r) => [r.name, r]),
  );
  return uses.map((use) => {
    const row = rows.get(use.name);
    // The routes refuse a spec naming a secret that is not there, and a secret in use is not deleted.
    if (!row) throw new Error(`secret ${use.name} of ${ownerId} is gone while a container uses it`);
    return {
      name: use.name,
      ...(use.env ? { env: use.env } : {}),
      owner: ownerId,
      digest: sealedDigest(row.ciphertext),
      sealed: row.ciphertext,
    };
  });
}

/** The owner's containers whose spec names this secret (JSON containment: `spec.secrets` holds `{ name }`). */
export function containersUsing(db: Knex, ownerId: string, name: string) {
  return db('containers')
    .where({ owner_id: ownerId })
    .whereRaw(`coalesce(spec->'secrets', '[]'::jsonb) @> ?::jsonb`, [JSON.stringify([{ name }])]);
}
