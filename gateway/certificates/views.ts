/** How the API shows a certificate. */
import { Type, type TSchema } from 'typebox';
import { JOB_EXAMPLE } from '../schemas.ts';
import { serviceOfCertName } from '../../queues/certificates/service.ts';
import type { CertificateRow } from './store.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

const CERTIFICATE_EXAMPLE = {
  id: '0193a5c7-8f90-7a1b-b324-d5e6f708192a',
  kind: 'site',
  names: ['www.example.net', 'example.net'],
  website: 'shop',
  proxy: 'p1',
  host: null,
  service: null,
  challenge: 'http-01',
  status: 'valid',
  notBefore: '2026-12-01T09:05:00.000Z',
  notAfter: '2027-03-01T09:05:00.000Z',
  issuer: "C=US, O=Let's Encrypt, CN=R11",
  serial: '04a1b2c3d4e5f60718293a4b5c6d7e8f9012',
  fingerprint: 'SHA256:3F:2A:9C:41:7B:E0:55:12:8D:6A:B4:0C:99:E3:71:2F:58:AB:CD:10:47:6E:92:F1:0B:3C:8A:D5:E2:76:14:9B',
  lastError: null,
  lastAttemptAt: '2026-12-01T09:05:00.000Z',
  failures: 0,
  lastJobId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
  createdAt: '2026-12-01T09:00:00.000Z',
  updatedAt: '2026-12-01T09:05:00.000Z',
};

export const CertificateView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    kind: Type.Enum(['site', 'wildcard', 'service']),
    names: Type.Array(Type.String()),
    website: Nullable(Type.String()),
    proxy: Nullable(Type.String()),
    host: Nullable(Type.String({ description: 'a service certificate: the host it is issued and installed on' })),
    service: Nullable(Type.String({ description: 'a service certificate: postfix | dovecot | postgresql | mariadb | nginx' })),
    challenge: Type.Enum(['http-01', 'dns-01']),
    status: Type.Enum(['pending', 'valid', 'failed', 'renewing']),
    notBefore: Nullable(Type.String({ format: 'date-time' })),
    notAfter: Nullable(Type.String({ format: 'date-time' })),
    issuer: Nullable(Type.String()),
    serial: Nullable(Type.String()),
    fingerprint: Nullable(Type.String()),
    lastError: Nullable(Type.String()),
    lastAttemptAt: Nullable(Type.String({ format: 'date-time' })),
    failures: Type.Integer({ description: 'consecutive failed attempts' }),
    lastJobId: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Certificate',
    examples: [CERTIFICATE_EXAMPLE],
  },
);

const QUEUED_CERT_JOB = {
  ...JOB_EXAMPLE,
  id: '0193a5c8-90a1-7b2c-8435-e6f708192a3b',
  correlationId: '0193a5c8-90a1-7b2c-8435-e6f708192a3b',
  op: 'cert.issue',
  status: 'queued',
  attempt: 0,
  payload: { certificate: '0193a5c7-8f90-7a1b-b324-d5e6f708192a' },
  result: null,
  finishedAt: null,
};

export const CertificateRenewal = Type.Object(
  { certificate: Type.Ref('Certificate'), job: Type.Ref('Job') },
  {
    $id: 'CertificateRenewal',
    examples: [{ certificate: { ...CERTIFICATE_EXAMPLE, status: 'renewing' }, job: QUEUED_CERT_JOB }],
  },
);
export const certificateSchemas: TSchema[] = [CertificateView, CertificateRenewal];

export type CertificateViewRow = CertificateRow & { website_name: string | null; proxy_name: string | null; host_name: string | null };

export function certificateView(c: CertificateViewRow) {
  return {
    id: c.id,
    kind: c.kind,
    names: c.names,
    website: c.website_name,
    proxy: c.proxy_name,
    host: c.host_name,
    service: c.kind === 'service' ? serviceOfCertName(c.name) : null,
    challenge: c.challenge,
    status: c.status,
    notBefore: iso(c.not_before),
    notAfter: iso(c.not_after),
    issuer: c.issuer,
    serial: c.serial,
    fingerprint: c.fingerprint,
    lastError: c.last_error,
    lastAttemptAt: iso(c.last_attempt_at),
    failures: c.failures,
    lastJobId: c.last_job_id,
    createdAt: iso(c.created_at)!,
    updatedAt: iso(c.updated_at)!,
  };
}
