import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { systemPing } from '../queues/system/ops.ts';
import type { GatewayContext } from './context.ts';
import { CONNECTION_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from './deadlines.ts';
import { auditTrail } from './plugins/audit.ts';
import { bearerAuth } from './plugins/auth.ts';
import { defaultRatePerMinute, rateLimits } from './plugins/rate-limit.ts';
import { enforceAccess } from './plugins/scope.ts';
import { canonicalPaths } from './plugins/canonical-path.ts';
import { securityHeaders } from './plugins/security-headers.ts';
import { auditRoutes } from './routes/audit.ts';
import { errorHandling } from './plugins/errors.ts';
import { httpMetrics } from './plugins/http-metrics.ts';
import { lazySerializers } from './plugins/lazy-serializers.ts';
import { domains } from './domains.ts';
import { alarmRoutes, alarmSchemas } from './health/alarms.ts';
import { dlqRoutes } from './routes/dlq.ts';
import { probeRoutes } from './routes/probes.ts';
import { jobRoutes } from './routes/jobs.ts';
import { queueRoutes } from './routes/queues.ts';
import { systemRoutes } from './routes/system.ts';
import { sharedSchemas } from './schemas.ts';
import { documentAsServed } from './openapi-document.ts';

export interface GatewayOptions extends GatewayContext {
  adminToken: string;
  log: Logger;
  /** Proxies whose X-Forwarded-For names the client (UP_TRUST_PROXY): allowlists, audit and rate limits see the real address. */
  trustProxy?: string[];
  /** False when this process serves /metrics on a port of its own (UP_METRICS_PORT): not on the API's. */
  metricsOnApiPort?: boolean;
}

/** The fastify app: shared schemas, OpenAPI, auth, error mapping, one plugin per resource. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    trustProxy: options.trustProxy?.length ? options.trustProxy : false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    schemaController: { compilersFactory: { buildSerializer: lazySerializers() } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  for (const schema of [...sharedSchemas, ...alarmSchemas]) app.addSchema(schema);
  for (const schema of domains.flatMap((domain) => domain.schemas ?? [])) app.addSchema(schema);
  // Operation payloads that are also request bodies: one schema validates the API and the message.
  // Payload components are the queues' own schemas; the document shows them with an example.
  app.addSchema({ ...systemPing.payload, examples: [{ delayMs: 100 }] });

  // Before any plugin (root hooks reach only the plugins registered after them), in this order:
  // one spelling per path, headers on every answer, then on each /v1 route who calls, what they
  // may reach, how often, and the record of it (hooks of the routes themselves, by their pattern).
  errorHandling(app);
  httpMetrics(app);
  canonicalPaths(app);
  securityHeaders(app);
  await bearerAuth(app, { adminToken: options.adminToken, db: options.db });
  enforceAccess(app, { db: options.db });
  await rateLimits(app, { defaultPerMinute: defaultRatePerMinute() });
  auditTrail(app, { db: options.db });

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
        ...domains.map((domain) => ({ name: domain.name, description: domain.description })),
        { name: 'tokens', description: 'API tokens: shown once, stored hashed.' },
        { name: 'audit', description: 'Who changed what.' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transformObject: (document) => documentAsServed('openapiObject' in document ? document.openapiObject : document.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const context: GatewayContext = { db: options.db, bus: options.bus, outbox: options.outbox };
  await app.register(probeRoutes, { ...context, metrics: options.metricsOnApiPort ?? true });
  await app.register(jobRoutes, context);
  await app.register(systemRoutes, context);
  await app.register(dlqRoutes, context);
  await app.register(queueRoutes, context);
  await app.register(alarmRoutes, context);
  for (const domain of domains) {
    for (const routes of (await domain.routes?.()) ?? []) await app.register(routes, context);
  }
  await app.register(auditRoutes, context);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
