import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { operations } from '../queues/catalogue.ts';
import type { GatewayContext } from './context.ts';
import { bearerAuth } from './plugins/auth.ts';
import { errorHandling } from './plugins/errors.ts';
import { dlqRoutes } from './routes/dlq.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { queueRoutes } from './routes/queues.ts';
import { systemRoutes } from './routes/system.ts';
import { sharedSchemas } from './schemas.ts';

export interface GatewayOptions extends GatewayContext {
  adminToken: string;
  log: Logger;
}

/** The fastify app: shared schemas, OpenAPI, auth, error mapping, one plugin per resource. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  for (const schema of sharedSchemas) app.addSchema(schema);
  // Operation payloads are components too: one schema validates the API and the message.
  for (const op of operations) if ((op.payload as { $id?: string }).$id) app.addSchema(op.payload);

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
        { name: 'health', description: 'Liveness, readiness, metrics.' },
        { name: 'system', description: 'The pipeline itself.' },
        { name: 'jobs', description: 'Every change, as a job.' },
        { name: 'dlq', description: 'Dead letters.' },
        { name: 'queues', description: 'Broker queues.' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  errorHandling(app);
  bearerAuth(app, { adminToken: options.adminToken });

  const context: GatewayContext = { db: options.db, bus: options.bus, outbox: options.outbox };
  await app.register(healthRoutes, context);
  await app.register(jobRoutes, context);
  await app.register(systemRoutes, context);
  await app.register(dlqRoutes, context);
  await app.register(queueRoutes, context);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
