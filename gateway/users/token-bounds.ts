import type { Scope } from './token-store.ts';
import type { Caller, Credential } from '../plugins/auth.ts';
import { HttpError } from '../plugins/errors.ts';
import { subnetInside } from '../plugins/ip-allow.ts';

const DAY_MS = 86_400_000;
/** A token's life when the request sets none (and the minting token lives longer). */
export const DEFAULT_EXPIRY_DAYS = 90;

export interface TokenRequest {
  scopes?: Scope[];
  expiresInDays?: number;
  allowFrom?: string[];
  ratePerMinute?: number;
}

export interface TokenBounds {
  scopes: Scope[];
  expiresAt: Date;
  allowFrom: string[];
  ratePerMinute: number | null;
}

const refuse = (field: string, why: string) => new HttpError(403, 'forbidden', `body/${field}: ${why}`);

/**
 * What a new token may be, given the token that mints it: never broader. Its scopes are a
 * subset, it expires no later, it works only from inside the minting token's subnets, and its
 * rate is no higher (the bootstrap admin token has no bounds). Rates above the gateway's
 * default are for admins to grant. A field the request leaves out is inherited (expiry: 90
 * days at most). A field that asks for more is refused with 403 naming it, never narrowed
 * silently.
 */
export function boundedByParent(
  body: TokenRequest,
  caller: Caller,
  parent: Credential,
  defaultPerMinute: number,
  now = Date.now(),
): TokenBounds {
  const scopes = body.scopes ?? [...parent.scopes];
  const extra = scopes.filter((s) => !parent.scopes.includes(s));
  if (extra.length > 0)
    throw refuse('scopes', `the token that creates it has the scope ${parent.scopes.join(', ')}; it cannot grant ${extra.join(', ')}`);

  const parentEnd = parent.expiresAt?.getTime() ?? Infinity;
  let expiresAt: number;
  if (body.expiresInDays === undefined) {
    expiresAt = Math.min(now + DEFAULT_EXPIRY_DAYS * DAY_MS, parentEnd);
  } else {
    expiresAt = now + body.expiresInDays * DAY_MS;
    if (expiresAt > parentEnd) {
      throw refuse(
        'expiresInDays',
        `the token that creates it expires at ${new Date(parentEnd).toISOString()}; a new token cannot outlive it (leave expiresInDays out to expire with it)`,
      );
    }
  }

  const allowFrom = body.allowFrom ?? [...parent.allowFrom];
  if (parent.allowFrom.length > 0) {
    if (allowFrom.length === 0)
      throw refuse(
        'allowFrom',
        `the token that creates it works only from ${parent.allowFrom.join(', ')}; a new token cannot work from anywhere`,
      );
    allowFrom.forEach((cidr, i) => {
      if (!parent.allowFrom.some((outer) => subnetInside(cidr, outer))) {
        throw refuse(
          `allowFrom/${i}`,
          `${cidr} is not inside the subnets the token that creates it works from (${parent.allowFrom.join(', ')})`,
        );
      }
    });
  }

  const unbounded = caller.role === 'admin' && caller.tokenId === null;
  const parentRate = unbounded ? Infinity : (parent.ratePerMinute ?? defaultPerMinute);
  const rate = body.ratePerMinute;
  if (rate !== undefined) {
    if (caller.role !== 'admin' && rate > defaultPerMinute)
      throw refuse(
        'ratePerMinute',
        `above the gateway's default of ${defaultPerMinute} requests per minute, only an admin sets a token's rate`,
      );
    if (rate > parentRate)
      throw refuse('ratePerMinute', `the token that creates it allows ${parentRate} requests per minute; a new token cannot allow more`);
  }
  return { scopes, expiresAt: new Date(expiresAt), allowFrom, ratePerMinute: rate ?? parent.ratePerMinute };
}
