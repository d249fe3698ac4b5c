import { USER_NAME_PATTERN } from './users/store.ts';

/**
 * The OpenAPI document says what the server does, by rules applied to the whole document
 * once (@fastify/swagger's `transformObject`), so that every route, present and future,
 * follows them without a word in its own schema:
 * - a field with a `default` is optional for the caller (the validator fills it in), however
 *   the schema spells it: TypeBox lists every non-`Optional` property as required;
 * - every 201/202 names its `Location` header;
 * - every `/v1` operation may answer 429 (with Retry-After and the rate-limit headers) and
 *   takes the `X-Up-As` header (an admin acting as another user).
 */

type Json = Record<string, any>;

const ERROR = { $ref: '#/components/schemas/Error' };

const components = {
  headers: {
    Location: {
      description: 'the job to follow (`/v1/jobs/{id}`) or the resource created',
      schema: { type: 'string', format: 'uri-reference' },
    },
    RetryAfter: { description: 'seconds to wait before the next request', schema: { type: 'integer', minimum: 0 } },
    RateLimitLimit: {
      description: "requests allowed per minute (the tightest of the token's and the user's)",
      schema: { type: 'integer' },
    },
    RateLimitRemaining: { description: 'requests left in the current minute', schema: { type: 'integer' } },
    RateLimitReset: { description: 'seconds until the counter resets', schema: { type: 'integer' } },
  },
  responses: {
    TooManyRequests: {
      description:
        'Too many requests: the rate limit of the token or of its user, or too many failed authentications. Wait Retry-After seconds.',
      headers: {
        'Retry-After': { $ref: '#/components/headers/RetryAfter' },
        'X-RateLimit-Limit': { $ref: '#/components/headers/RateLimitLimit' },
        'X-RateLimit-Remaining': { $ref: '#/components/headers/RateLimitRemaining' },
        'X-RateLimit-Reset': { $ref: '#/components/headers/RateLimitReset' },
      },
      content: { 'application/json': { schema: ERROR } },
    },
  },
  parameters: {
    ActAs: {
      name: 'X-Up-As',
      in: 'header',
      required: false,
      description:
        'Admins only: run the request as this user (their scope, ownership and limits); the audit records both. Any other caller gets 403.',
      schema: { type: 'string', pattern: USER_NAME_PATTERN },
    },
  },
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Applies the document-wide rules; the input is left untouched. */
export function documentAsServed<T extends object>(document: T): T {
  const doc = structuredClone(document) as Json;
  const schemas: Json = doc.components?.schemas ?? {};
  const resolve = (schema: Json) => (typeof schema?.$ref === 'string' ? (schemas[schema.$ref.split('/').pop()!] ?? schema) : schema);
  const seen = new Set<Json>();

  /** Drops the properties that have a default from `required`, in this schema and every schema inside it. */
  const optionalDefaults = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const schema = resolve(node as Json);
    if (seen.has(schema)) return;
    seen.add(schema);
    if (Array.isArray(schema.required) && schema.properties) {
      schema.required = schema.required.filter((name: string) => schema.properties[name]?.default === undefined);
      if (schema.required.length === 0) delete schema.required;
    }
    for (const key of ['properties', 'patternProperties', '$defs'])
      for (const child of Object.values(schema[key] ?? {})) optionalDefaults(child);
    for (const key of ['items', 'additionalProperties', 'not']) optionalDefaults(schema[key]);
    for (const key of ['allOf', 'anyOf', 'oneOf', 'prefixItems']) for (const child of schema[key] ?? []) optionalDefaults(child);
  };

  doc.components = {
    ...doc.components,
    headers: { ...doc.components?.headers, ...components.headers },
    responses: { ...doc.components?.responses, ...components.responses },
    parameters: { ...doc.components?.parameters, ...components.parameters },
  };

  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation: Json | undefined = item[method];
      if (!operation) continue;
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in !== 'path' && parameter.required && parameter.schema?.default !== undefined) parameter.required = false;
      }
      for (const media of Object.values<Json>(operation.requestBody?.content ?? {})) optionalDefaults(media.schema);
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        if (status === '201' || status === '202')
          response.headers = { Location: { $ref: '#/components/headers/Location' }, ...response.headers };
      }
      if (path === '/v1' || path.startsWith('/v1/')) {
        operation.responses = { ...operation.responses, 429: { $ref: '#/components/responses/TooManyRequests' } };
        operation.parameters = [...(operation.parameters ?? []), { $ref: '#/components/parameters/ActAs' }];
      }
    }
  }
  return doc as T;
}
