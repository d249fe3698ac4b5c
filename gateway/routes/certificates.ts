import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { getCertificate, type CertificateRow } from '../../lib/db/certs.ts';
import { serviceOfCertName } from '../../queues/ops/cert-service.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { submitAll } from './web-jobs.ts';
import { certJob } from './web-certs.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const IdParams = Type.Object({ id: Type.String({ pattern: UUID, description: 'the certificate id' }) });
const owned = (idParam?: string) => ({ owned: { kind: 'certificates', table: 'certificates', ...(idParam ? { idParam } : {}) } });

export const CertificateView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    kind: Type.String({ description: 'site | wildcard | service' }),
    names: Type.Array(Type.String()),
    website: Nullable(Type.String()),
    proxy: Nullable(Type.String()),
    host: Nullable(Type.String({ description: 'a service certificate: the host it is issued and installed on' })),
    service: Nullable(Type.String({ description: 'a service certificate: postfix | dovecot | postgresql | mariadb | nginx' })),
    challenge: Type.String({ description: 'http-01 | dns-01' }),
    status: Type.String({ description: 'pending | valid | failed | renewing' }),
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
  { $id: 'Certificate' },
);

export const CertificateRenewal = Type.Object({ certificate: Type.Ref('Certificate'), job: Type.Ref('Job') }, { $id: 'CertificateRenewal' });
export const certificateSchemas: TSchema[] = [CertificateView, CertificateRenewal];

type Row = CertificateRow & { website_name: string | null; proxy_name: string | null; host_name: string | null };

export function certificateView(c: Row) {
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

export const certificateRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const rows = () =>
    db('certificates as c')
      .leftJoin('websites as w', 'w.id', 'c.website_id')
      .leftJoin('proxy_groups as p', 'p.id', db.raw('coalesce(c.proxy_group_id, w.proxy_group_id)'))
      .leftJoin('hosts as h', 'h.id', 'c.host_id')
      .select('c.*', 'w.name as website_name', 'p.name as proxy_name', 'h.name as host_name');

  async function one(id: string): Promise<Row> {
    const row: Row | undefined = await rows().where('c.id', id).first();
    if (!row) throw notFound('certificate');
    return row;
  }

  app.get(
    '/v1/certificates',
    {
      config: owned(),
      schema: {
        operationId: 'listCertificates',
        tags: ['certificates'],
        summary: "Certificates of your websites (admins: all, proxy wildcards included), with expiry, status and the last error.",
        response: { 200: Type.Array(Type.Ref('Certificate')), ...errorResponses(401) },
      },
    },
    async (request) => (await scopeToCaller(rows().orderBy(['c.kind', 'c.name']), request.caller, 'c.owner_id')).map(certificateView),
  );

  app.get(
    '/v1/certificates/:id',
    {
      config: owned('id'),
      schema: { operationId: 'getCertificate', tags: ['certificates'], summary: 'One certificate.', params: IdParams, response: { 200: Type.Ref('Certificate'), ...errorResponses(400, 401, 404) } },
    },
    async (request) => certificateView(await one(request.params.id)),
  );

  app.post(
    '/v1/certificates/:id/renew',
    {
      config: owned('id'),
      schema: {
        operationId: 'renewCertificate',
        tags: ['certificates'],
        summary: 'Renew now (a certificate never issued is issued): certbot asks the CA for a new one, every member gets it.',
        params: IdParams,
        response: { 202: Type.Ref('CertificateRenewal'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const cert = await getCertificate(db, request.params.id);
      if (!cert) throw notFound('certificate');
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
        const planned = await certJob(trx, cert, cert.not_after !== null);
        if (planned.length === 0) throw new HttpError(409, 'conflict', 'the certificate has nowhere to be issued: no proxy member, or its host or DNS zone is gone');
        return planned;
      });
      return reply
        .code(202)
        .header('location', `/v1/jobs/${jobs[0].id}`)
        .send({ certificate: certificateView(await one(cert.id)), job: jobView(jobs[0]) });
    },
  );
};
