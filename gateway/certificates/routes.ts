import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CertificateView, certificateView, type CertificateViewRow as Row } from './views.ts';
import { getCertificate } from './store.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';
import { jobView } from '../views.ts';

import { certJob } from './plans.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { requesterOf } from '../plan.ts';

const IdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'the certificate id' }) });
const owned = (idParam?: string) => ({ owned: { kind: 'certificates', table: 'certificates', ...(idParam ? { idParam } : {}) } });

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
        summary: 'Certificates of your websites (admins: all, proxy wildcards included), with expiry, status and the last error.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(CertificateView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const query = scopeToCaller(
        keyset(rows(), { columns: ['c.kind', 'c.name', 'c.id'] }, { limit, after }),
        request.caller,
        'c.owner_id',
      );
      const page = pageOf<Row>(await query, limit, (c) => [c.kind, c.name, c.id]);
      return { ...page, items: page.items.map(certificateView) };
    },
  );

  app.get(
    '/v1/certificates/:id',
    {
      config: owned('id'),
      schema: {
        operationId: 'getCertificate',
        tags: ['certificates'],
        summary: 'One certificate.',
        params: IdParams,
        response: { 200: Type.Ref('Certificate'), ...errorResponses(400, 401, 404) },
      },
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
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const planned = await certJob(trx, cert, cert.not_after !== null);
        if (planned.length === 0)
          throw new HttpError(
            409,
            'conflict',
            'the certificate has nowhere to be issued: no proxy member, or its host or DNS zone is gone',
          );
        return planned;
      });
      return reply
        .code(202)
        .header('location', `/v1/jobs/${jobs[0].id}`)
        .send({ certificate: certificateView(await one(cert.id)), job: jobView(jobs[0], request.caller) });
    },
  );
};
