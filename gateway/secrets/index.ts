/** Secrets: tenants' values for their containers, sealed at rest and delivered only to podman's root-only store. */
import { defineDomain } from '../domain.ts';
import type { SecretRow } from './store.ts';
import { secretSchemas } from './views.ts';

export default defineDomain({
  name: 'secrets',
  description:
    "Tenants' secrets for their containers: sealed at rest (AES-256-GCM, UP_SECRETS_KEY_FILE), listed by name only, read by containers as a file or variable.",
  schemas: secretSchemas,
  routes: async () => [(await import('./routes.ts')).secretRoutes],
  // Removing a user: their containers go with their own kind; the rows go now (nothing is on a host but what the containers' deletes sweep).
  owned: [
    {
      kind: 'secrets',
      table: 'secrets',
      planRemoval: async (trx, row) => {
        await trx('secrets')
          .where({ id: (row as unknown as SecretRow).id })
          .delete();
        return [];
      },
    },
  ],
});
