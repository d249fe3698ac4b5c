import { Type, type TSchema } from 'typebox';
import { ContainerCreate, ContainerEdit } from '../../lib/validate/containers.ts';
import { exampleOf, JOB_EXAMPLE } from '../schemas.ts';
import type { ContainerRow } from './store.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ContainerView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    owner: Type.String(),
    host: Type.String(),
    image: Type.String(),
    command: Type.Array(Type.String()),
    env: Type.Record(Type.String(), Type.String()),
    ports: Type.Array(
      Type.Object({
        container: Type.Integer(),
        host: Type.Integer(),
        address: Type.String({ description: 'where the port is published' }),
      }),
    ),
    volumes: Type.Array(Type.Object({ name: Type.String(), target: Type.String(), readOnly: Type.Boolean() })),
    limits: Type.Object({ memoryMb: Type.Integer(), cpus: Type.Number(), pids: Type.Integer() }),
    restart: Type.String(),
    healthcheck: Nullable(Type.Object({ command: Type.Array(Type.String()), intervalSeconds: Type.Integer(), retries: Type.Integer() })),
    secrets: Type.Array(Type.Object({ name: Type.String(), env: Type.Optional(Type.String()) }), {
      description: 'the secrets it reads, by name (their values are never shown)',
    }),
    running: Type.Boolean({ description: 'the desired state' }),
    status: Nullable(
      Type.String({ description: "podman's state the host last reported (running, exited, created), or null before the first report" }),
    ),
    generation: Type.Integer(),
    appliedGeneration: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Container',
    examples: [
      {
        id: '0193a5c6-7e8f-7091-a213-c4d5e6f70820',
        name: 'web',
        owner: 'alice',
        host: 'node1',
        image: 'docker.io/library/python:3.12-slim',
        command: ['python3', '-m', 'http.server', '8000'],
        env: { APP_MODE: 'production' },
        ports: [{ container: 8000, host: 20000, address: '192.0.2.21' }],
        volumes: [{ name: 'data', target: '/srv/data', readOnly: false }],
        limits: { memoryMb: 256, cpus: 0.5, pids: 256 },
        restart: 'on-failure',
        healthcheck: null,
        secrets: [{ name: 'db-password', env: 'DB_PASSWORD' }],
        running: true,
        status: 'running',
        generation: 2,
        appliedGeneration: 2,
        error: null,
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

export const ContainerChange = Type.Object(
  { container: Type.Ref('Container'), jobs: Type.Array(Type.Ref('Job')) },
  { $id: 'ContainerChange', examples: [{ container: exampleOf(ContainerView), jobs: [JOB_EXAMPLE] }] },
);

const iso = (d: Date | string) => new Date(d).toISOString();

export function containerView(
  row: ContainerRow,
  extra: { owner: string; ports: { container: number; host: number }[]; address: string },
): import('typebox').Static<typeof ContainerView> {
  return {
    id: row.id,
    name: row.name,
    owner: extra.owner,
    host: row.host,
    image: row.spec.image,
    command: row.spec.command,
    env: row.spec.env,
    ports: extra.ports.map((p) => ({ ...p, address: extra.address })),
    volumes: row.spec.volumes,
    limits: row.spec.limits,
    restart: row.spec.restart,
    healthcheck: row.spec.healthcheck,
    secrets: row.spec.secrets ?? [],
    running: row.running,
    status: row.status,
    generation: row.generation,
    appliedGeneration: row.applied_generation,
    error: row.last_error,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export const containerSchemas: TSchema[] = [ContainerCreate, ContainerEdit, ContainerView, ContainerChange];
