/** Tenants for a test: one user each, with a read-write API token; returns the tokens by name. */
import type { Knex } from 'knex';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';

export async function tenantsWithTokens(db: Knex, names: readonly string[]): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const name of names) {
    const user = (await createUser(db, { name, role: 'user' }))!;
    tokens[name] = (
      await createToken(db, {
        userId: user.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
  }
  return tokens;
}
