import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../../lib/config.ts';
import { guardApiRoutes } from './api-routes.ts';
import { HttpError } from './errors.ts';

export interface RateLimitOptions {
  /** Requests per minute of a token that sets no rate of its own, and of a user's tokens together. */
  defaultPerMinute: number;
}

type Limit = { max: number; remaining: number; ttlInSeconds: number; isExceeded: boolean; who: string };

/**
 * Two counters per request, both enforced: one per token (its own rate, or the default) and
 * one per user across all their tokens (the default, or the rate of the token in hand when an
 * admin granted it more), so that N tokens do not make N times the rate. A hook of each API
 * route, after authentication and access. The bootstrap admin token is the operator's own and
 * is not limited. Counters live in this process: several gateways each allow the rate.
 */
export async function rateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  // Only the counters (`createRateLimit`): which requests count, and the answer, are decided here.
  await app.register(rateLimit, { global: false, timeWindow: 60_000 });
  const tokenRate = (request: FastifyRequest) => request.credential.ratePerMinute ?? options.defaultPerMinute;
  const perToken = app.createRateLimit({
    keyGenerator: (request) => `token:${request.caller.tokenId}`,
    max: tokenRate,
  });
  const perUser = app.createRateLimit({
    keyGenerator: (request) => `user:${request.caller.userId}`,
    max: (request) => Math.max(options.defaultPerMinute, tokenRate(request)),
  });

  guardApiRoutes(app, 'onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.caller.tokenId === null) return;
    const limits: Limit[] = [];
    for (const [counter, who] of [
      [perToken, 'this token'],
      [perUser, `user ${request.caller.actor} (all tokens together)`],
    ] as const) {
      const limit = await counter(request);
      if (!limit.isAllowed) limits.push({ ...limit, who });
    }
    const tightest = limits.find((l) => l.isExceeded) ?? limits.reduce((a, b) => (b.remaining < a.remaining ? b : a));
    reply
      .header('x-ratelimit-limit', tightest.max)
      .header('x-ratelimit-remaining', tightest.remaining)
      .header('x-ratelimit-reset', tightest.ttlInSeconds);
    if (tightest.isExceeded) {
      throw new HttpError(
        429,
        'too_many_requests',
        `rate limit reached: at most ${tightest.max} requests per minute for ${tightest.who}; retry in ${tightest.ttlInSeconds} s`,
        undefined,
        { 'retry-after': String(tightest.ttlInSeconds) },
      );
    }
  });
}

/** UP_RATE_LIMIT_PER_MINUTE, validated (default 1200). */
export function defaultRatePerMinute(env: Record<string, string | undefined> = process.env): number {
  const value = env.UP_RATE_LIMIT_PER_MINUTE?.trim();
  if (!value) return 1200;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new ConfigError('UP_RATE_LIMIT_PER_MINUTE must be a positive integer');
  return Number(value);
}
