/**
 * Tenants' secrets in the database: each value sealed with the gateway's key (UP_SECRETS_KEY_FILE),
 * bound to its owner and name. Nothing here returns a value in the clear: the gateway only seals,
 * the handler that delivers a secret to podman opens.
 */
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { loadSecretsKeys, open, openWithAny, seal, secretAad, secretDigest } from '../../lib/secrets/sealing.ts';
import type { ContainerSecret } from '../../queues/containers/ops.ts';
import { HttpError } from '../plugins/errors.ts';

/** A secret a container or app reads: as the file /run/secrets/<name>, or as the variable `env`. */
export interface SecretUse {
  name: string;
  env?: string;
}

export interface SecretRow {
  id: string;
  owner_id: string;
  name: string;
  ciphertext: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The gateway's keys, the one that seals first, or a 503 that says what is missing (a value is never stored unsealed instead). */
export function gatewaySecretsKeys(): Buffer[] {
  const keys = loadSecretsKeys();
  if (!keys)
    throw new HttpError(
      503,
      'secrets_unconfigured',
      'secrets are not configured on this gateway: set UP_SECRETS_KEY_FILE (a file holding 32 random bytes, mode 0600) on the gateway and on the containers handlers',
    );
  return keys;
}

export const sealFor = (ownerId: string, name: string, value: Buffer) => seal(gatewaySecretsKeys()[0], secretAad(ownerId, name), value);

/** Secrets up keeps for a user (an app's DATABASE_URL): the user reads and deletes them, never sets them. */
export const OWN_SECRET_PREFIX = 'up-';

/**
 * Stores a value under the owner's name: a new secret, a new version of one, or nothing when
 * the value is the one it holds (no new version, so nothing that reads it is applied again).
 */
export async function putSecret(
  trx: Knex.Transaction,
  ownerId: string,
  name: string,
  value: Buffer,
): Promise<'created' | 'changed' | 'same'> {
  const row: SecretRow | undefined = await trx('secrets').where({ owner_id: ownerId, name }).forUpdate().first();
  if (!row) {
    await trx('secrets').insert({ id: randomUUID(), owner_id: ownerId, name, ciphertext: sealFor(ownerId, name, value) });
    return 'created';
  }
  if (openSecret(row).equals(value)) return 'same';
  await trx('secrets')
    .where({ id: row.id })
    .update({ ciphertext: sealFor(ownerId, name, value), version: row.version + 1, updated_at: trx.fn.now() });
  return 'changed';
}

/** A secret's value, for what up composes of it in the gateway (an app's DATABASE_URL); never returned by the API. */
export const openSecret = (row: SecretRow): Buffer => openWithAny(gatewaySecretsKeys(), secretAad(row.owner_id, row.name), row.ciphertext);

/** The owner's secrets of these names (missing ones are absent). */
export function secretsNamed(db: Knex, ownerId: string, names: string[]): Knex.QueryBuilder<SecretRow, SecretRow[]> {
  return db<SecretRow>('secrets').where({ owner_id: ownerId }).whereIn('name', names);
}

/**
 * The secrets a container or app names, checked: each once, each variable its own (a plain
 * setting of the same name would hide one value behind the other), each one of the owner's: another
 * user's answers as one nobody has (400 naming it, nothing leaks). Shared row locks: a secret
 * deleted meanwhile waits for the using row to exist, and then refuses.
 */
export async function checkSecretUses(
  trx: Knex.Transaction,
  ownerId: string,
  uses: readonly SecretUse[],
  env: Record<string, string>,
): Promise<void> {
  const refuse = (message: string) => {
    throw new HttpError(400, 'bad_request', message, [message]);
  };
  const twice = (values: string[]) => values.find((v, i) => values.indexOf(v) !== i);
  const name = twice(uses.map((u) => u.name));
  if (name) refuse(`body/secrets names ${name} twice`);
  const variable = twice([...Object.keys(env), ...uses.flatMap((u) => (u.env ? [u.env] : []))]);
  if (variable) refuse(`body/secrets names ${variable} twice`);
  const names = uses.map((u) => u.name);
  const found = new Set((await secretsNamed(trx, ownerId, names).forShare()).map((r) => r.name));
  const missing = names.filter((n) => !found.has(n));
  if (missing.length) refuse(`body/secrets: you have no secret named ${missing.join(', ')} (up secrets set ${missing[0]})`);
}

/** The uses a container spec names, each with its sealed value as a container.apply carries it. */
export async function containerSecretsOf(db: Knex, ownerId: string, uses: readonly SecretUse[]): Promise<ContainerSecret[]> {
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
      digest: secretDigest(row.id, row.version),
      secretId: row.id,
      version: row.version,
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

/**
 * After a key rotation: every stored value that does not open with the key that seals now is
 * sealed again with it (its version, and so what its containers have, unchanged). Values no key
 * opens are named, never touched. Rows are read and written a batch at a time, each locked.
 */
export async function resealAll(db: Knex): Promise<{ checked: number; resealed: number; unreadable: string[] }> {
  const keys = gatewaySecretsKeys();
  const report = { checked: 0, resealed: 0, unreadable: [] as string[] };
  let after: string | null = null;
  for (;;) {
    const batch = await db.transaction(async (trx) => {
      const page = trx('secrets').orderBy('id').limit(200).forUpdate();
      if (after) page.where('id', '>', after);
      const rows: SecretRow[] = await page;
      for (const row of rows) {
        const aad = secretAad(row.owner_id, row.name);
        try {
          open(keys[0], aad, row.ciphertext);
          continue;
        } catch {}
        // Not the current key's: one of those before it, or none.
        let value: Buffer;
        try {
          value = openWithAny(keys.slice(1), aad, row.ciphertext);
        } catch {
          report.unreadable.push(`${row.name} (owner ${row.owner_id})`);
          continue;
        }
        await trx('secrets')
          .where({ id: row.id })
          .update({ ciphertext: seal(keys[0], aad, value), updated_at: trx.fn.now() });
        report.resealed++;
      }
      return rows;
    });
    report.checked += batch.length;
    if (batch.length === 0) return report;
    after = batch.at(-1)!.id;
  }
}
