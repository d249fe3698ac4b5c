import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { systemPing } from '../queues/ops/system-ping.ts';
import type { GatewayContext } from './context.ts';
import { auditTrail } from './plugins/audit.ts';
import { bearerAuth } from './plugins/auth.ts';
import { defaultRatePerMinute, rateLimits } from './plugins/rate-limit.ts';
import { enforceAccess } from './plugins/scope.ts';
import { auditRoutes } from './routes/audit.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { userRoutes } from './routes/users.ts';
import { errorHandling } from './plugins/errors.ts';
import { dnsRoutes } from './routes/dns.ts';
import { alarmRoutes, alarmSchemas } from './routes/alarms.ts';
import { dlqRoutes } from './routes/dlq.ts';
import { healthRoutes } from './routes/health.ts';
import { hostRoutes } from './routes/hosts.ts';
import { hostSchemas } from './hosts-view.ts';
import { proxyRoutes } from './routes/proxies.ts';
import { websiteRoutes } from './routes/websites.ts';
import { certificateRoutes, certificateSchemas } from './routes/certificates.ts';
import { serviceCertificateRoutes } from './routes/service-certs.ts';
import { webSchemas } from './routes/web-views.ts';
import { jobRoutes } from './routes/jobs.ts';
import { queueRoutes } from './routes/queues.ts';
import { systemRoutes } from './routes/system.ts';
import { sharedSchemas } from './schemas.ts';

export interface GatewayOptions extends GatewayContext {
  adminToken: string;
  log: Logger;
  /** Proxies whose X-Forwarded-For names the client (UP_TRUST_PROXY): allowlists, audit and rate limits see the real address. */
  trustProxy?: string[];
}

/** The fastify app: shared schemas, OpenAPI, auth, error mapping, one plugin per resource. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: options.trustProxy?.length ? options.trustProxy : false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  for (const schema of [...sharedSchemas, ...alarmSchemas]) app.addSchema(schema);
  for (const schema of hostSchemas) app.addSchema(schema);
  for (const schema of webSchemas) app.addSchema(schema);
  for (const schema of certificateSchemas) app.addSchema(schema);
  // Operation payloads that are also request bodies: one schema validates the API and the message.
  for (const body of [systemPing.payload]) app.addSchema(body);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'up',
        version: '0.1.0',
        description: 'Every change is a typed, queued, observable job: submit it, get 202 and the job, follow it at /v1/jobs/{id}.',
        license: { name: 'UNLICENSED', identifier: 'UNLICENSED' },
      },
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'health', description: 'Liveness, readiness, metrics; the health of every checked resource, and alarms.' },
        { name: 'system', description: 'The pipeline itself.' },
        { name: 'jobs', description: 'Every change, as a job.' },
        { name: 'dlq', description: 'Dead letters.' },
        { name: 'queues', description: 'Broker queues.' },
        { name: 'dns', description: 'DNS servers (admin), zones and records, applied with RFC 2136.' },
        { name: 'hosts', description: 'The machines up manages (admin).' },
        { name: 'proxies', description: 'Proxy groups: nginx hosts serving a wildcard domain (admin).' },
        { name: 'websites', description: 'Websites on proxy groups: static files and upstreams, a temporary subdomain each.' },
        { name: 'certificates', description: 'TLS certificates kept by certbot: sites, proxy wildcards; expiry, renewal, errors.' },
        { name: 'users', description: 'Users, their plans and their Unix users on hosts (admin).' },
        { name: 'tokens', description: 'API tokens: shown once, stored hashed.' },
        { name: 'audit', description: 'Who changed what.' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  errorHandling(app);
  // Order matters: who calls, then what they may reach, then how often, then the record of it.
  await bearerAuth(app, { adminToken: options.adminToken, db: options.db });
  enforceAccess(app, { db: options.db });
  await rateLimits(app, { defaultPerMinute: defaultRatePerMinute() });
  auditTrail(app, { db: options.db });

  const context: GatewayContext = { db: options.db, bus: options.bus, outbox: options.outbox };
  await app.register(healthRoutes, context);
  await app.register(jobRoutes, context);
  await app.register(systemRoutes, context);
  await app.register(dlqRoutes, context);
  await app.register(queueRoutes, context);
  await app.register(alarmRoutes, context);
  await app.register(dnsRoutes, context);
  await app.register(hostRoutes, context);
  await app.register(proxyRoutes, context);
  await app.register(websiteRoutes, context);
  await app.register(certificateRoutes, context);
  await app.register(serviceCertificateRoutes, context);
  await app.register(userRoutes, context);
  await app.register(tokenRoutes, context);
  await app.register(auditRoutes, context);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
