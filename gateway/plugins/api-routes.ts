import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The one test of what is an API route: the matched route's own pattern, never a request's
 * URL. The router matches `/%76%31/users` and `/v1/users` to the same route; a raw-URL test
 * sees two different strings.
 */
export const isApiRoute = (url: string | undefined): boolean => url === '/v1' || (url?.startsWith('/v1/') ?? false);

type Stage = 'onRequest' | 'preValidation' | 'preHandler' | 'onResponse';
type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Runs `guard` at `stage` for every request the router matched to an API route, whatever
 * spelling of the URL it came with (HEAD routes included; a 404 has no route and is left
 * alone). Installed on the root instance before any plugin, it runs before every hook the
 * route plugins add (a root hook reaches only the plugins registered after it, and a
 * plugin's own hooks come after the root's): a route plugin's hook never sees a request
 * that was not authenticated. Guards of one stage run in the order they were installed.
 */
export function guardApiRoutes(app: FastifyInstance, stage: Stage, guard: Guard): void {
  app.addHook(stage, async (request: FastifyRequest, reply: FastifyReply) => {
    if (isApiRoute(request.routeOptions.url)) await guard(request, reply);
  });
}
