import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.ts';

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const NAMED: Record<string, string> = { '/': 'a slash', '\\': 'a backslash', '%': 'a percent sign (double encoding)' };

/**
 * Null when the request target is a path in canonical form, else what is wrong with it. One
 * resource has one spelling here: no percent-encoded character that has a plain one (`%76`
 * for `v`, `%2E` for `.`), no encoded slash, backslash, percent sign or control character
 * (no path parameter of this API holds one), no empty or dot segment, no fragment, no
 * absolute-form target. Encoded bytes of UTF-8 text (IDN labels) and encoded reserved
 * characters stay allowed: they are how a parameter carries such a character.
 */
export function pathProblem(target: string): string | null {
  if (!target.startsWith('/')) return 'the request target must be a path that starts with /';
  if (target.includes('#')) return 'the request target holds a fragment (#)';
  const path = target.split('?', 1)[0];
  if (path.includes('\\')) return 'the path holds a backslash';
  if (path.includes('//')) return 'the path holds an empty segment (//)';
  if (/\/\.{1,2}(?:\/|$)/.test(path)) return 'the path holds a dot segment (/./ or /../)';
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return 'the path holds a % that starts no percent-encoding';
    const code = parseInt(hex, 16);
    if (code >= 0x80) continue;
    const char = String.fromCharCode(code);
    if (UNRESERVED.test(char)) return `the path percent-encodes ${JSON.stringify(char)} (%${hex}): write it as it is`;
    if (NAMED[char]) return `the path percent-encodes ${NAMED[char]} (%${hex})`;
    if (code < 0x20 || code === 0x7f) return `the path percent-encodes a control character (%${hex})`;
  }
  return null;
}

/**
 * Answers 400 to a request whose path is not in canonical form, before anything else runs
 * (auth and access decide by the matched route anyway; this keeps one spelling per resource
 * for logs, caches and whatever proxy stands in front). Install on the root instance before
 * any plugin: a root hook reaches only the plugins registered after it.
 */
export function canonicalPaths(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const problem = pathProblem(request.url);
    if (problem) throw new HttpError(400, 'bad_request', `the path is not in canonical form: ${problem}`);
  });
}
