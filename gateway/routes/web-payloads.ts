/**
 * API bodies of websites → the stored, normalized spec: domains to punycode (and checked
 * against claims and wildcard domains by the route), upstreams and paths canonical,
 * passwords to apr1 hashes here — the password itself is never stored or sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Static } from 'typebox';
import type { StoredSpec } from '../../lib/db/web.ts';
import { FieldError, normalizeDomain, normalizeRoutePath, normalizeUpstream, type WebsiteEdit } from '../../lib/validate/web.ts';
import { HttpError } from '../plugins/errors.ts';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Apache's MD5 crypt (`$apr1$`), which nginx's auth_basic reads on every platform. */
export function apr1(password: string, salt = saltOf(8)): string {
  const pw = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt, 'latin1');
  const md5 = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('md5')).digest();
  const ctx = createHash('md5').update(pw).update('$apr1$').update(s);
  let final = md5(pw, s, pw);
  for (let left = pw.length; left > 0; left -= 16) ctx.update(final.subarray(0, Math.min(left, 16)));
  for (let i = pw.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const round = createHash('md5');
    round.update(i & 1 ? pw : final);
    if (i % 3) round.update(s);
    if (i % 7) round.update(pw);
    round.update(i & 1 ? final : pw);
    final = round.digest();
  }
  const to64 = (value: number, n: number) => {
    let out = '';
    for (; n > 0; n--, value >>= 6) out += ITOA64[value & 0x3f];
    return out;
  };
  const f = final;
  const encoded =
    to64((f[0] << 16) | (f[6] << 8) | f[12], 4) +
    to64((f[1] << 16) | (f[7] << 8) | f[13], 4) +
    to64((f[2] << 16) | (f[8] << 8) | f[14], 4) +
    to64((f[3] << 16) | (f[9] << 8) | f[15], 4) +
    to64((f[4] << 16) | (f[10] << 8) | f[5], 4) +
    to64(f[11], 2);
  return `$apr1$${salt}$${encoded}`;
}

function saltOf(n: number): string {
  return [...randomBytes(n)].map((b) => ITOA64[b & 0x3f]).join('');
}

export const DEFAULT_SPEC: StoredSpec = {
  domains: [],
  static: true,
  routes: [],
  maxBodySize: '10m',
  basicAuth: null,
  errorPages: [],
  headers: [],
  wwwRedirect: 'none',
  httpsRedirect: false,
};

type Edit = Static<typeof WebsiteEdit>;

/** Applies an edit (or a create's fields) to a spec; FieldError → 400 naming the field. */
export function mergeSpec(base: StoredSpec, edit: Edit): StoredSpec {
  try {
    const spec: StoredSpec = { ...base };
    if (edit.domains) spec.domains = dedupe(edit.domains.map((d, i) => normalizeDomain(d, `body/domains/${i}`)), 'body/domains');
    if (edit.static !== undefined) spec.static = edit.static;
    if (edit.routes) {
      spec.routes = edit.routes.map((r, i) => ({
        path: normalizeRoutePath(r.path, `body/routes/${i}/path`),
        upstream: normalizeUpstream(r.upstream, `body/routes/${i}/upstream`),
        websocket: r.websocket ?? false,
      }));
      dedupe(spec.routes.map((r) => r.path), 'body/routes');
    }
    if (edit.maxBodySize !== undefined) spec.maxBodySize = edit.maxBodySize;
    if (edit.basicAuth !== undefined) {
      spec.basicAuth = edit.basicAuth && {
        realm: edit.basicAuth.realm,
        users: edit.basicAuth.users.map((u) => ({ name: u.name, hash: apr1(u.password) })),
      };
      if (spec.basicAuth) dedupe(spec.basicAuth.users.map((u) => u.name), 'body/basicAuth/users');
    }
    if (edit.errorPages) spec.errorPages = edit.errorPages;
    if (edit.headers) spec.headers = edit.headers;
    if (edit.wwwRedirect) spec.wwwRedirect = edit.wwwRedirect;
    if (edit.httpsRedirect !== undefined) spec.httpsRedirect = edit.httpsRedirect;
    return spec;
  } catch (error) {
    if (error instanceof FieldError) throw new HttpError(400, 'bad_request', error.message, [error.message]);
    throw error;
  }
}

function dedupe<T>(values: T[], field: string): T[] {
  if (new Set(values).size !== values.length) throw new FieldError(field, 'has duplicates');
  return values;
}
