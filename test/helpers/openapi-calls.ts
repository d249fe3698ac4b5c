/**
 * Every operation of an OpenAPI document as the smallest call a client can make: the
 * parameters and body properties the server needs (required and without a default), each
 * with a placeholder of the right type. Written as an openapi-fetch program (to type-check
 * against the generated client) and as plain requests (to send to the server).
 */

type Json = Record<string, any>;

export interface MinimalCall {
  operationId: string;
  method: string;
  /** The path template, e.g. /v1/jobs/{id}. */
  template: string;
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const UUID = '00000000-0000-4000-8000-000000000000';
// Placeholders that satisfy the usual patterns, so that a request is judged on what it lacks.
const STRINGS = ['abc', 'a1', 'example.test', 'www', UUID, '10.0.0.1', 'x', '@', `SHA256:${'A'.repeat(43)}`, '/srv/x', '10.0.0.0/24'];

export function minimalCalls(doc: Json): MinimalCall[] {
  const resolve = (schema: Json): Json => (typeof schema?.$ref === 'string' ? resolve(pointer(doc, schema.$ref)) : schema);
  const needed = (schema: Json) => schema.default === undefined;

  const sample = (input: Json): unknown => {
    const schema = resolve(input);
    if ('const' in schema) return schema.const;
    if (Array.isArray(schema.enum)) return schema.enum[0];
    for (const key of ['anyOf', 'oneOf']) {
      if (schema[key]) return sample(schema[key].find((s: Json) => resolve(s).type !== 'null') ?? schema[key][0]);
    }
    if (schema.allOf) return Object.assign({}, ...schema.allOf.map(sample));
    const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
    switch (type) {
      case 'string':
        if (schema.format === 'uuid') return UUID;
        if (schema.format === 'date-time') return '2026-01-01T00:00:00Z';
        return STRINGS.find((s) => !schema.pattern || new RegExp(schema.pattern, 'u').test(s)) ?? 'x';
      case 'integer':
      case 'number':
        return schema.minimum ?? schema.exclusiveMinimum ?? 1;
      case 'boolean':
        return false;
      case 'array':
        return schema.minItems ? Array.from({ length: schema.minItems }, () => sample(schema.items ?? {})) : [];
      default: {
        const properties: Json = schema.properties ?? {};
        return Object.fromEntries(
          (schema.required ?? [])
            .filter((name: string) => needed(resolve(properties[name] ?? {})))
            .map((name: string) => [name, sample(properties[name] ?? {})]),
        );
      }
    }
  };

  const calls: MinimalCall[] = [];
  for (const [template, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation: Json | undefined = item[method];
      if (!operation) continue;
      const path: Record<string, unknown> = {};
      const query: Record<string, unknown> = {};
      for (const parameter of [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve)) {
        if (!parameter.required || !needed(parameter.schema ?? {})) continue;
        if (parameter.in === 'path') path[parameter.name] = sample(parameter.schema ?? {});
        if (parameter.in === 'query') query[parameter.name] = sample(parameter.schema ?? {});
      }
      const requestBody = operation.requestBody ? resolve(operation.requestBody) : null;
      const media = requestBody?.content?.['application/json'];
      calls.push({
        operationId: operation.operationId ?? `${method} ${template}`,
        method: method.toUpperCase(),
        template,
        path,
        query,
        // A required body with no JSON form (an SQL or gzip stream): the client must still pass one.
        body: requestBody?.required ? (media ? sample(media.schema ?? {}) : '') : undefined,
      });
    }
  }
  return calls;
}

/** One openapi-fetch call per operation, with only what `minimalCalls` found needed. */
export function clientProgram(calls: MinimalCall[], typesModule: string): string {
  const lines = [
    "import createClient from 'openapi-fetch';",
    `import type { paths } from '${typesModule}';`,
    '',
    "const client = createClient<paths>({ baseUrl: 'http://127.0.0.1:8470' });",
    '',
    'export async function callEveryOperation(): Promise<void> {',
  ];
  for (const call of calls) {
    const params = {
      ...(Object.keys(call.path).length ? { path: call.path } : {}),
      ...(Object.keys(call.query).length ? { query: call.query } : {}),
    };
    const init = { ...(Object.keys(params).length ? { params } : {}), ...(call.body !== undefined ? { body: call.body } : {}) };
    const args = Object.keys(init).length ? `, ${JSON.stringify(init)}` : '';
    lines.push(`  // ${call.operationId}`, `  await client.${call.method}(${JSON.stringify(call.template)}${args});`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

/** The request line of a call: the template filled in, the query string. */
export function callUrl(call: MinimalCall): string {
  const path = call.template.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(String(call.path[name])));
  const query = new URLSearchParams(Object.entries(call.query).map(([k, v]): [string, string] => [k, String(v)]));
  return query.size ? `${path}?${query}` : path;
}

function pointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`only local references are followed, not ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .reduce((node: Json, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}
