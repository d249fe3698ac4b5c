/**
 * Certificates for services on a host (postfix, dovecot, PostgreSQL, MariaDB, nginx): admin
 * only, names in zones hosted here (DNS-01 through RFC 2136, so the host need not serve HTTP).
 * One certificate per host and service; asking again with other names replaces its names.
 * Listing, showing and renewing are the certificate routes'; the schedule renews them too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { dnsChallengeServer, zoneServerFor, type CertificateRow } from './store.ts';
import { getHostByName, type HostRow } from '../hosts/store.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { CERT_DOMAIN } from '../../queues/certificates/ops.ts';
import { CertServiceSchema, serviceCertName, type CertService } from '../../queues/certificates/service.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { certificateView } from './views.ts';
import { certJob } from './plans.ts';
import { serviceDirs } from './service.ts';
import { requesterOf } from '../plan.ts';

const ServiceCertificateCreate = Type.Object(
  {
    host: Type.String({ pattern: HOST_NAME_PATTERN, maxLength: 63, description: 'the host the service runs on' }),
    service: CertServiceSchema,
    names: Type.Array(Type.String({ pattern: CERT_DOMAIN, maxLength: 253 }), {
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
      description: 'names in zones hosted here',
    }),
  },
  { additionalProperties: false, examples: [{ host: 'mail1', service: 'postfix', names: ['mail.example.net'] }] },
);

async function upsertServiceCertificate(trx: Knex, host: HostRow, service: CertService, names: string[]): Promise<CertificateRow> {
  const name = serviceCertName(service);
  const existing: CertificateRow | undefined = await trx('certificates')
    .where({ kind: 'service', host_id: host.id, name })
    .forUpdate()
    .first();
  const fields = { names: JSON.stringify(names), challenge: 'dns-01', updated_at: trx.fn.now() };
  if (existing) return (await trx('certificates').where({ id: existing.id }).update(fields).returning('*'))[0];
  return (
    await trx('certificates')
      .insert({ id: crypto.randomUUID(), kind: 'service', name, owner_id: null, host_id: host.id, ...fields })
      .returning('*')
  )[0];
}

export const serviceCertificateRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.post(
    '/v1/certificates',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'createServiceCertificate',
        tags: ['certificates'],
        summary:
          'A certificate for a service on a host (DNS-01: every name in a zone hosted here), installed where the service reads it, the service reloaded when it runs.',
        body: ServiceCertificateCreate,
        response: { 202: Type.Ref('CertificateRenewal'), ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const names = body.names.map((n) => n.toLowerCase());
      const host = await getHostByName(db, body.host);
      if (!host) throw notFound('host');
      const dirs = serviceDirs(host);
      if ('error' in dirs) throw new HttpError(422, 'unprocessable', dirs.error);
      const outside = [];
      for (const name of names) if (!(await zoneServerFor(db, name))) outside.push(name);
      if (outside.length)
        throw new HttpError(
          422,
          'unprocessable',
          `body/names: ${outside.join(', ')} not in a DNS zone hosted here (a service certificate is proven by DNS-01 through RFC 2136)`,
        );
      if (!(await dnsChallengeServer(db, names)))
        throw new HttpError(
          422,
          'unprocessable',
          'body/names: the names are in zones of different DNS servers; ask for one certificate per server',
        );
      let cert: CertificateRow | undefined;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        cert = await upsertServiceCertificate(trx, host, body.service, names);
        return certJob(trx, cert);
      });
      if (jobs.length === 0) throw new HttpError(422, 'unprocessable', 'the certificate cannot be issued: its host or DNS server is gone');
      const row = await db('certificates').where({ id: cert!.id }).first();
      return reply
        .code(202)
        .header('location', `/v1/jobs/${jobs[0].id}`)
        .send({
          certificate: certificateView({ ...row, website_name: null, proxy_name: null, host_name: host.name }),
          job: jobView(jobs[0], request.caller),
        });
    },
  );
};
