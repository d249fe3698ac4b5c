/**
 * Certificates for services on a host (postfix, dovecot, PostgreSQL, MariaDB, nginx): admin
 * only, names in zones hosted here (DNS-01 through RFC 2136, so the host need not serve HTTP).
 * One certificate per host and service; asking again with other names replaces its names.
 * Listing, showing and renewing are the certificate routes'; the schedule renews them too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type, type Static } from 'typebox';
import { dnsChallengeServer, zoneServerFor, type CertificateRow } from '../../lib/db/certs.ts';
import { getHostByName, hostRefOf, type HostRow } from '../../lib/db/hosts.ts';
import { BASE_DIR } from '../../lib/validate/web.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { CERT_DOMAIN } from '../../queues/ops/cert.ts';
import {
  CertServiceSchema, SERVICE_CERT_BASE_DIR, SERVICE_CERT_DEPLOY_DIR, serviceCertName, serviceOfCertName, type CertService, type ServiceCertPayload,
} from '../../queues/ops/cert-service.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { certificateView } from './certificates.ts';
import { certJob } from './web-certs.ts';
import { submitAll } from './web-jobs.ts';

export const BASE_DIR_LABEL = 'certs.base-dir';
export const DEPLOY_DIR_LABEL = 'certs.deploy-dir';

const ServiceCertificateCreate = Type.Object(
  {
    host: Type.String({ pattern: HOST_NAME_PATTERN, maxLength: 63, description: 'the host the service runs on' }),
    service: CertServiceSchema,
    names: Type.Array(Type.String({ pattern: CERT_DOMAIN, maxLength: 253 }), { minItems: 1, maxItems: 100, uniqueItems: true, description: 'names in zones hosted here' }),
  },
  { additionalProperties: false },
);

/** Where certbot keeps its state and where the pair goes on this host; a bad label names itself. */
export function serviceDirs(host: HostRow): { baseDir: string; deployDir: string } | { error: string } {
  const labels = host.labels ?? {};
  const dirs = { baseDir: labels[BASE_DIR_LABEL] ?? SERVICE_CERT_BASE_DIR, deployDir: labels[DEPLOY_DIR_LABEL] ?? SERVICE_CERT_DEPLOY_DIR };
  const pattern = new RegExp(BASE_DIR);
  for (const [label, dir] of [[BASE_DIR_LABEL, dirs.baseDir], [DEPLOY_DIR_LABEL, dirs.deployDir]] as const) {
    if (!pattern.test(dir) || dir.length > 256) return { error: `host ${host.name}: label ${label} must be an absolute path without '..' (it is ${JSON.stringify(dir.slice(0, 80))})` };
  }
  return dirs;
}

/** The message for a service certificate; null when its host, service or zone server is gone (nothing to issue on). */
export async function serviceCertPayload(db: Knex, cert: CertificateRow): Promise<ServiceCertPayload | null> {
  const service = serviceOfCertName(cert.name);
  const host: HostRow | undefined = cert.host_id ? await db('hosts').where({ id: cert.host_id }).first() : undefined;
  const server = await dnsChallengeServer(db, cert.names);
  if (!service || !host || !server) return null;
  const dirs = serviceDirs(host);
  if ('error' in dirs) return null;
  return {
    certificate: { id: cert.id, name: cert.name },
    names: cert.names,
    challenge: 'dns-01',
    host: await hostRefOf(db, host),
    service: { name: service, ...dirs },
    dns: { address: server.address, port: server.port, keyName: server.keyName, algorithm: server.algorithm },
  };
}

async function upsertServiceCertificate(trx: Knex, host: HostRow, service: CertService, names: string[]): Promise<CertificateRow> {
  const name = serviceCertName(service);
  const existing: CertificateRow | undefined = await trx('certificates').where({ kind: 'service', host_id: host.id, name }).forUpdate().first();
  const fields = { names: JSON.stringify(names), challenge: 'dns-01', updated_at: trx.fn.now() };
  if (existing) return (await trx('certificates').where({ id: existing.id }).update(fields).returning('*'))[0];
  return (await trx('certificates').insert({ id: crypto.randomUUID(), kind: 'service', name, owner_id: null, host_id: host.id, ...fields }).returning('*'))[0];
}

export const serviceCertificateRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.post(
    '/v1/certificates',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'createServiceCertificate',
        tags: ['certificates'],
        summary: "A certificate for a service on a host (DNS-01: every name in a zone hosted here), installed where the service reads it, the service reloaded when it runs.",
        body: ServiceCertificateCreate,
        response: { 202: Type.Ref('CertificateRenewal'), ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof ServiceCertificateCreate>;
      const names = body.names.map((n) => n.toLowerCase());
      const host = await getHostByName(db, body.host);
      if (!host) throw notFound('host');
      const dirs = serviceDirs(host);
      if ('error' in dirs) throw new HttpError(422, 'unprocessable', dirs.error);
      const outside = [];
      for (const name of names) if (!(await zoneServerFor(db, name))) outside.push(name);
      if (outside.length) throw new HttpError(422, 'unprocessable', `body/names: ${outside.join(', ')} not in a DNS zone hosted here (a service certificate is proven by DNS-01 through RFC 2136)`);
      if (!(await dnsChallengeServer(db, names))) throw new HttpError(422, 'unprocessable', 'body/names: the names are in zones of different DNS servers; ask for one certificate per server');
      let cert: CertificateRow | undefined;
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
        cert = await upsertServiceCertificate(trx, host, body.service, names);
        return certJob(trx, cert);
      });
      if (jobs.length === 0) throw new HttpError(422, 'unprocessable', 'the certificate cannot be issued: its host or DNS server is gone');
      const row = await db('certificates').where({ id: cert!.id }).first();
      return reply
        .code(202)
        .header('location', `/v1/jobs/${jobs[0].id}`)
        .send({ certificate: certificateView({ ...row, website_name: null, proxy_name: null, host_name: host.name }), job: jobView(jobs[0]) });
    },
  );
};
