import { Type, type Static, type TSchema } from 'typebox';
import { TEMPLATE_NAME } from '../../lib/app-templates.ts';
import { ENV_KEY, IMAGE_REF, SecretUse } from '../../lib/validate/containers.ts';
import { SECRET_NAME } from '../../lib/validate/secrets.ts';
import { SHORT_NAME } from '../databases/views.ts';
import { PROXY_NAME, RawDomain } from '../../lib/validate/web.ts';
import { exampleOf, JOB_EXAMPLE } from '../schemas.ts';
import { APP_NAME, MAX_REPLICAS, type AppRow } from './store.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Env = Type.Record(Type.String({ pattern: ENV_KEY }), Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), {
  additionalProperties: false,
  maxProperties: 100,
  description: "variables over the template's own (a value replaces the template's)",
});
const Secrets = Type.Array(SecretUse, {
  maxItems: 20,
  uniqueItems: true,
  description: 'your secrets the replicas read: a file at /run/secrets/<name>, or a variable; a new value starts a new release',
});
const Database = Type.Object(
  {
    database: Type.String({ pattern: SHORT_NAME, description: 'one of your databases' }),
    user: Type.String({ pattern: SHORT_NAME, description: 'one of your database users, granted on it' }),
    passwordSecret: Type.String({ pattern: SECRET_NAME, description: "the secret that holds the user's password" }),
  },
  {
    additionalProperties: false,
    description:
      'the database the replicas reach: given to them as DATABASE_URL (TLS required), kept by up in the secret up-<app>-database-url',
  },
);
const Replicas = Type.Integer({ minimum: 1, maximum: MAX_REPLICAS, description: 'containers serving the app, balanced by nginx' });
const Image = Type.String({ pattern: IMAGE_REF, maxLength: 255 });

export const AppCreate = Type.Object(
  {
    name: Type.String({ pattern: APP_NAME, description: 'unique per user; also the name of its website' }),
    template: Type.String({ pattern: TEMPLATE_NAME, description: 'a folder of templates/apps: django, node, container, static, …' }),
    proxy: Type.String({ pattern: PROXY_NAME, description: 'the proxy group that serves it' }),
    domains: Type.Optional(Type.Array(RawDomain, { maxItems: 50, uniqueItems: true, description: 'none: the temporary subdomain only' })),
    replicas: Type.Optional(Replicas),
    env: Type.Optional(Env),
    secrets: Type.Optional(Secrets),
    database: Type.Optional(Database),
    image: Type.Optional({ ...Image, description: 'the image to run, for templates that build none (container: required)' }),
    baseImage: Type.Optional({ ...Image, description: "for templates that build: the Containerfile's base instead of the template's" }),
  },
  {
    additionalProperties: false,
    $id: 'AppCreate',
    examples: [
      {
        name: 'blog',
        template: 'django',
        proxy: 'p1',
        domains: ['blog.example.org'],
        env: { DJANGO_DEBUG: '0' },
        secrets: [{ name: 'django-secret-key', env: 'DJANGO_SECRET_KEY' }],
      },
    ],
  },
);

export const AppEdit = Type.Object(
  {
    replicas: Type.Optional(Replicas),
    env: Type.Optional(Env),
    unsetEnv: Type.Optional(Type.Array(Type.String({ pattern: ENV_KEY }), { maxItems: 100, uniqueItems: true })),
    secrets: Type.Optional({ ...Secrets, description: 'the secrets the replicas read, all of them (an empty list: none)' }),
    database: Type.Optional(Nullable(Database)),
    image: Type.Optional({ ...Image, description: 'run this image (templates that build none)' }),
  },
  {
    additionalProperties: false,
    $id: 'AppEdit',
    description: 'Each change starts a new release: new replicas, nginx switched once they are ready, the old ones removed.',
    examples: [{ replicas: 2, env: { DJANGO_DEBUG: '0' } }],
  },
);

const Deploy = Type.Object({
  state: Type.String({
    description: 'building, starting, switching, publishing (the new release serves; its static files travel), succeeded or failed',
  }),
  release: Nullable(Type.Integer()),
  image: Nullable(Type.String()),
  cause: Type.String(),
  jobId: Nullable(Type.String()),
  at: Type.String({ format: 'date-time' }),
  log: Nullable(Type.String({ description: "the build's output, or the failed replicas' logs" })),
  error: Nullable(Type.String()),
});

export const AppView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    owner: Type.String(),
    template: Type.String(),
    website: Type.String(),
    urls: Type.Array(Type.String(), { description: 'the temporary subdomain first, then the domains' }),
    host: Nullable(Type.String()),
    replicas: Type.Integer(),
    env: Type.Record(Type.String(), Type.String()),
    secrets: Type.Array(Type.Object({ name: Type.String(), env: Type.Optional(Type.String()) }), {
      description: 'the secrets its replicas read, by name (their values are never shown)',
    }),
    database: Nullable(Database),
    image: Nullable(Type.String({ description: 'what the serving replicas run' })),
    previousImage: Nullable(Type.String({ description: 'what `rollback` returns to' })),
    release: Type.Integer(),
    serving: Type.Array(Type.Object({ name: Type.String(), status: Nullable(Type.String()), port: Nullable(Type.Integer()) }), {
      description: 'the replicas nginx sends requests to',
    }),
    deploy: Nullable(Deploy),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'App',
    examples: [
      {
        id: '0193a5c6-7e8f-7091-a213-c4d5e6f70830',
        name: 'blog',
        owner: 'alice',
        template: 'django',
        website: 'blog',
        urls: ['http://blog-alice.p1.example.net/', 'http://blog.example.org/'],
        host: 'node1',
        replicas: 2,
        env: { DJANGO_DEBUG: '0' },
        secrets: [{ name: 'django-secret-key', env: 'DJANGO_SECRET_KEY' }],
        database: { database: 'blog', user: 'blog', passwordSecret: 'blog-db-password' },
        image: 'localhost/up-app-blog-alice:3f2a9c1b0d4e5f60',
        previousImage: null,
        release: 1,
        serving: [
          { name: 'blog-r1-1', status: 'running', port: 20000 },
          { name: 'blog-r1-2', status: 'running', port: 20001 },
        ],
        deploy: {
          state: 'succeeded',
          release: 1,
          image: 'localhost/up-app-blog-alice:3f2a9c1b0d4e5f60',
          cause: 'upload',
          jobId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
          at: '2026-12-06T10:00:00.000Z',
          log: 'STEP 1/6: FROM localhost/up-django-base:latest\n…',
          error: null,
        },
        createdAt: '2026-12-06T09:00:00.000Z',
        updatedAt: '2026-12-06T10:00:00.000Z',
      },
    ],
  },
);

export const AppTemplateView = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    builds: Type.Boolean({ description: 'an app of it is built from uploaded source (up apps deploy)' }),
  },
  {
    $id: 'AppTemplate',
    examples: [
      { name: 'django', description: 'A Django project served by gunicorn; nginx serves its collected static files.', builds: true },
    ],
  },
);

/** What a change that only starts jobs answers (a delete, a read of logs). */
export const AppJobs = Type.Object({ jobs: Type.Array(Type.Ref('Job')) }, { $id: 'AppJobs', examples: [{ jobs: [JOB_EXAMPLE] }] });

export const AppChange = Type.Object(
  { app: Type.Ref('App'), jobs: Type.Array(Type.Ref('Job')) },
  { $id: 'AppChange', examples: [{ app: exampleOf(AppView), jobs: [JOB_EXAMPLE] }] },
);

const iso = (d: Date | string) => new Date(d).toISOString();

export function appView(
  row: AppRow,
  extra: { owner: string; website: string; urls: string[]; serving: Static<typeof AppView>['serving'] },
): Static<typeof AppView> {
  const d = row.deploy;
  return {
    id: row.id,
    name: row.name,
    owner: extra.owner,
    template: row.template,
    website: extra.website,
    urls: extra.urls,
    host: row.host,
    replicas: row.replicas,
    env: row.env,
    secrets: row.secrets,
    database: row.database,
    image: row.image,
    previousImage: row.previous_image,
    release: row.release,
    serving: extra.serving,
    deploy: d && {
      state: d.state,
      release: d.release ?? null,
      image: d.image ?? null,
      cause: d.cause,
      jobId: d.jobId ?? null,
      at: d.at,
      log: d.log ?? null,
      error: d.error ?? null,
    },
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export const appSchemas: TSchema[] = [AppCreate, AppEdit, AppView, AppChange, AppTemplateView, AppJobs];
