import { Type, type Static, type TSchema } from 'typebox';
import { SECRET_MAX_BYTES } from '../../lib/secrets/sealing.ts';
import { SECRET_NAME } from '../../lib/validate/secrets.ts';
import { exampleOf, JOB_EXAMPLE } from '../schemas.ts';
import type { SecretRow } from './store.ts';

export const SecretValue = Type.Object(
  {
    value: Type.String({
      minLength: 1,
      maxLength: SECRET_MAX_BYTES,
      description: `the value, at most ${SECRET_MAX_BYTES / 1024} KiB (UTF-8): stored sealed, never shown again`,
    }),
  },
  { additionalProperties: false, $id: 'SecretValue', examples: [{ value: 'correct horse battery staple' }] },
);

/** A secret as anyone sees it: its name and dates, never its value. */
export const SecretView = Type.Object(
  {
    name: Type.String({ pattern: SECRET_NAME }),
    owner: Type.String(),
    version: Type.Integer({ description: 'how many values it has had: one more with every PUT of a new value' }),
    usedBy: Type.Array(Type.String(), { description: 'the containers that read it' }),
    apps: Type.Array(Type.String(), { description: 'the apps whose replicas read it' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Secret',
    examples: [
      {
        name: 'db-password',
        owner: 'alice',
        version: 2,
        usedBy: ['web'],
        apps: ['blog'],
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

export const SecretChange = Type.Object(
  {
    secret: Type.Ref('Secret'),
    jobs: Type.Array(Type.Ref('Job'), {
      description: 'the containers that read it applied again with the new value, and the new releases of the apps that read it',
    }),
  },
  { $id: 'SecretChange', examples: [{ secret: exampleOf(SecretView), jobs: [JOB_EXAMPLE] }] },
);

const iso = (d: Date | string) => new Date(d).toISOString();

export function secretView(row: SecretRow, extra: { owner: string; usedBy: string[]; apps: string[] }): Static<typeof SecretView> {
  return {
    name: row.name,
    owner: extra.owner,
    version: row.version,
    usedBy: extra.usedBy,
    apps: extra.apps,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export const SecretsRekeyed = Type.Object(
  {
    checked: Type.Integer({ description: 'stored values looked at' }),
    resealed: Type.Integer({ description: 'sealed again with the new key (the others were already)' }),
    unreadable: Type.Array(Type.String(), {
      description: 'values no key in UP_SECRETS_KEY_FILE opens (name and owner): set them again; until then they cannot be delivered',
    }),
  },
  { $id: 'SecretsRekeyed', examples: [{ checked: 12, resealed: 12, unreadable: [] }] },
);

export const secretSchemas: TSchema[] = [SecretValue, SecretView, SecretChange, SecretsRekeyed];
