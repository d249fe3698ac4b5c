import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { normalizeIp } from './ip-allow.ts';
import { ConfigError } from '../../lib/config.ts';
import { HttpError } from './errors.ts';

export interface RateLimitOptions {
  /** Requests per minute of a token that sets no rate of its own. */
  defaultPerMinute: number;
}

/**
 * Requests per minute per token (per address for callers without a stored token). Runs
 * after authentication, so the key is the token. The bootstrap admin token is the
 * operator's own and is not limited. Counters live in this process: several gateways
 * each allow the rate.
 */
export async function rateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: 60_000,
    allowList: (request: FastifyRequest) => !request.url.startsWith('/v1/') || !request.caller || (request.caller.tokenId === null && request.caller.role === 'admin'),
    keyGenerator: (request: FastifyRequest) => request.caller?.tokenId ?? `ip:${normalizeIp(request.ip)}`,
    max: (request: FastifyRequest) => request.credential?.ratePerMinute ?? options.defaultPerMinute,
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, 'too_many_requests', `rate limit reached: at most ${context.max} requests per minute for this token; retry in ${context.after}`),
  });
}

/** UP_RATE_LIMIT_PER_MINUTE, validated (default 1200). */
export function defaultRatePerMinute(env: Record<string, string | undefined> = process.env): number {
  const value = env.UP_RATE_LIMIT_PER_MINUTE?.trim();
  if (!value) return 1200;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new ConfigError('UP_RATE_LIMIT_PER_MINUTE must be a positive integer');
  return Number(value);
}
