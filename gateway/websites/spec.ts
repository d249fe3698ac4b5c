/**
 * API bodies of websites → the stored, normalized spec: domains to punycode (and checked
 * against claims and wildcard domains by the route), upstreams and paths canonical,
 * passwords to SHA-512-crypt hashes here — the password itself is never stored or sent.
 */
import type { Static } from 'typebox';
import type { StoredSpec } from './store.ts';
import { sha512Crypt } from '../../lib/password-hash.ts';
import { normalizeDomain, normalizeRoutePath, normalizeUpstream, type WebsiteEdit } from '../../lib/validate/web.ts';
import { InputError } from '../../lib/errors.ts';

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

/** Applies an edit (or a create's fields) to a spec; an InputError names the field. */
export async function mergeSpec(base: StoredSpec, edit: Edit): Promise<StoredSpec> {
  const spec: StoredSpec = { ...base };
  if (edit.domains)
    spec.domains = dedupe(
      edit.domains.map((d, i) => normalizeDomain(d, `body/domains/${i}`)),
      'body/domains',
    );
  if (edit.static !== undefined) spec.static = edit.static;
  if (edit.routes) {
    spec.routes = edit.routes.map((r, i) => ({
      path: normalizeRoutePath(r.path, `body/routes/${i}/path`),
      upstream:
        typeof r.upstream === 'string'
          ? normalizeUpstream(r.upstream, `body/routes/${i}/upstream`)
          : { container: r.upstream.container, port: r.upstream.port },
      websocket: r.websocket ?? false,
    }));
    dedupe(
      spec.routes.map((r) => r.path),
      'body/routes',
    );
  }
  if (edit.staticPaths)
    spec.staticPaths = dedupe(
      edit.staticPaths.map((path, i) => normalizeRoutePath(path, `body/staticPaths/${i}`)),
      'body/staticPaths',
    );
  const routed = new Set(spec.routes.map((r) => r.path));
  spec.staticPaths?.forEach((path, i) => {
    if (routed.has(path)) throw new InputError(`body/staticPaths/${i}`, `is also a route's path (${path})`);
  });
  if (edit.maxBodySize !== undefined) spec.maxBodySize = edit.maxBodySize;
  if (edit.basicAuth !== undefined) {
    spec.basicAuth = edit.basicAuth && {
      realm: edit.basicAuth.realm,
      users: await Promise.all(edit.basicAuth.users.map(async (u) => ({ name: u.name, hash: await sha512Crypt(u.password) }))),
    };
    if (spec.basicAuth)
      dedupe(
        spec.basicAuth.users.map((u) => u.name),
        'body/basicAuth/users',
      );
  }
  if (edit.errorPages) spec.errorPages = edit.errorPages;
  if (edit.headers) spec.headers = edit.headers;
  if (edit.wwwRedirect) spec.wwwRedirect = edit.wwwRedirect;
  if (edit.httpsRedirect !== undefined) spec.httpsRedirect = edit.httpsRedirect;
  return spec;
}

function dedupe<T>(values: T[], field: string): T[] {
  if (new Set(values).size !== values.length) throw new InputError(field, 'has duplicates');
  return values;
}
