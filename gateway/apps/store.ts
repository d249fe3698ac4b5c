/** Apps in the database. Routes and observers read and write through here; handlers never do. */
import type { Knex } from 'knex';
import { containerKey, ownerOf, tenantOf } from '../containers/store.ts';
import type { AppRef } from '../../queues/apps/ops.ts';
import type { Static } from 'typebox';
import type { SecretUse } from '../secrets/store.ts';
import type { AppDatabase } from './database.ts';

/** `app.name`s fit a site name and leave room for the replicas' `-r<release>-<n>` in a container name. */
export const APP_NAME = '^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$';
export const MAX_REPLICAS = 8;

/** `publishing`: the new release serves, and the deploy waits for its static files to reach every proxy member. */
export type DeployState = 'building' | 'starting' | 'switching' | 'publishing' | 'succeeded' | 'failed';

/** The last deploy, as `up apps show` tells it. */
export interface DeployRecord {
  state: DeployState;
  release: number | null;
  image: string | null;
  /** What started it: a source upload, a change of image, env or replicas, a rollback. */
  cause: string;
  jobId: string | null;
  at: string;
  /** The build's or the failed release's log tail. */
  log: string | null;
  error: string | null;
  /** The website.deploy jobs of its static files, one per proxy member: the deploy ends when they have. */
  staticJobs?: string[];
}

export interface AppRow {
  id: string;
  name: string;
  owner_id: string;
  template: string;
  website_id: string;
  host: string | null;
  replicas: number;
  env: Record<string, string>;
  /** The owner's secrets its replicas read. */
  secrets: SecretUse[];
  /** The database its replicas reach with DATABASE_URL. */
  database: AppDatabase | null;
  base_image: string | null;
  image: string | null;
  previous_image: string | null;
  release: number;
  deploy: DeployRecord | null;
  created_at: Date;
  updated_at: Date;
}

/** A replica's container name: never reused across releases, so old and new run side by side. */
export const replicaName = (app: Pick<AppRow, 'name'>, release: number, n: number) => `${app.name}-r${release}-${n}`;

/** What the app's jobs carry about it. */
export async function appRefOf(db: Knex, app: AppRow): Promise<Static<typeof AppRef>> {
  const owner = await ownerOf(db, app.owner_id);
  return { id: app.id, key: containerKey(app.name, owner.name), tenant: tenantOf(owner) };
}

export async function recordDeploy(db: Knex, appId: string, deploy: Partial<DeployRecord>): Promise<void> {
  await db('apps')
    .where({ id: appId })
    .update({ deploy: db.raw(`coalesce(deploy, '{}'::jsonb) || ?::jsonb`, [JSON.stringify(deploy)]), updated_at: db.fn.now() });
}

/** The owner's apps whose replicas read this secret, or whose DATABASE_URL holds it (JSON containment, as containersUsing). */
export function appsUsing(db: Knex, ownerId: string, name: string) {
  return db('apps')
    .where({ owner_id: ownerId })
    .whereRaw(`(secrets @> ?::jsonb or database->>'passwordSecret' = ?)`, [JSON.stringify([{ name }]), name]);
}

/** One more static-files job the deploy waits for. */
export async function recordStaticJob(db: Knex, appId: string, jobId: string): Promise<void> {
  await db('apps')
    .where({ id: appId })
    .update({
      deploy: db.raw(`jsonb_set(deploy, '{staticJobs}', coalesce(deploy->'staticJobs', '[]'::jsonb) || to_jsonb(?::text))`, [jobId]),
    });
}
