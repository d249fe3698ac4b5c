import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { openApiDocument } from '../../scripts/openapi.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'up-openapi-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the OpenAPI document lints clean with redocly and generates TypeScript types', async () => {
  const doc = await openApiDocument();
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(doc));

  const lint = await run('npx', ['--no-install', 'redocly', 'lint', file, '--format', 'summary'], { cwd: process.cwd() }).catch((e) => e);
  assert.equal(lint.code ?? 0, 0, `${lint.stdout}${lint.stderr}`);
  assert.match(`${lint.stdout}${lint.stderr}`, /Your API description is valid/);
  assert.doesNotMatch(`${lint.stdout}${lint.stderr}`, /You have \d+ (warning|error)/);

  const types = join(dir, 'api.d.ts');
  await run('npx', ['--no-install', 'openapi-typescript', file, '-o', types]);
  const generated = readFileSync(types, 'utf8');
  assert.match(generated, /pingSystem/);
  assert.match(generated, /Job: \{/);

  const operationIds = Object.values(doc.paths as Record<string, Record<string, { operationId?: string; tags?: string[] }>>).flatMap((p) =>
    Object.values(p),
  );
  assert.ok(
    operationIds.every((o) => o.operationId && o.tags?.length),
    'every route has an operationId and tags',
  );
  assert.equal(new Set(operationIds.map((o) => o.operationId)).size, operationIds.length, 'operationIds are unique');
});

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const operationsOf = (doc: Json) =>
  Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, operation: item[method] as Json })),
  );

test('every list answers one shape: { items, next? }, with limit (default, maximum) and the after cursor', async () => {
  const doc: Json = await openApiDocument();
  const lists = operationsOf(doc).filter(({ operation }) => operation.operationId.startsWith('list'));
  assert.ok(lists.length >= 15, `${lists.length} list operations`);
  const wrong: string[] = [];
  for (const { operation } of lists) {
    const schema = operation.responses['200']?.content?.['application/json']?.schema ?? {};
    if (schema.type !== 'object' || schema.properties?.items?.type !== 'array' || schema.properties?.next?.type !== 'string')
      wrong.push(`${operation.operationId}: 200 is not { items, next }`);
    if (!(schema.required ?? []).includes('items') || (schema.required ?? []).includes('next'))
      wrong.push(`${operation.operationId}: items required, next optional`);
    const query = (name: string) => (operation.parameters ?? []).find((p: Json) => p.in === 'query' && p.name === name);
    const limit = query('limit');
    if (!limit || limit.required || !limit.schema.default || !limit.schema.maximum) wrong.push(`${operation.operationId}: limit`);
    if (!query('after') || query('after').required) wrong.push(`${operation.operationId}: after`);
  }
  assert.deepEqual(wrong, []);
});

test('every operation has an example of its request body and of its success response', async () => {
  const doc: Json = await openApiDocument();
  const schemas: Json = doc.components.schemas;
  const resolve = (schema: Json | undefined) => (schema?.$ref ? schemas[schema.$ref.split('/').pop()] : schema);
  const hasExample = (media: Json | undefined) =>
    media !== undefined &&
    (media.example !== undefined || Object.keys(media.examples ?? {}).length > 0 || resolve(media.schema)?.examples?.length > 0);
  const missing: string[] = [];
  for (const { operation } of operationsOf(doc)) {
    const body = operation.requestBody?.content;
    if (body && !Object.values<Json>(body).some(hasExample)) missing.push(`${operation.operationId} request body`);
    const success = Object.keys(operation.responses)
      .filter((status) => /^2/.test(status))
      .sort()
      .map((status) => operation.responses[status])
      .find((response) => response.content);
    if (success && !Object.values<Json>(success.content).some(hasExample)) missing.push(`${operation.operationId} response`);
  }
  assert.deepEqual(missing, []);
});

test('every example in the document is valid against its own schema', async () => {
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const addFormats = (await import('ajv-formats')).default as unknown as (ajv: unknown) => void;
  const doc: Json = await openApiDocument();
  const ROOT = 'https://up.example/openapi.json';
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const rooted = (schema: Json) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${ROOT}#/components/`));
  ajv.addSchema(rooted({ $id: ROOT, components: { schemas: doc.components.schemas } }));
  const invalid: string[] = [];
  let checked = 0;
  const check = (where: string, schema: Json, example: unknown) => {
    checked++;
    const validate = ajv.compile(rooted({ ...schema, $id: undefined, examples: undefined }));
    if (!validate(example)) invalid.push(`${where}: ${ajv.errorsText(validate.errors)}`);
  };
  for (const [name, schema] of Object.entries<Json>(doc.components.schemas))
    for (const example of schema.examples ?? []) check(`components.schemas.${name}`, { $ref: `#/components/schemas/${name}` }, example);
  for (const { operation } of operationsOf(doc)) {
    const media: [string, Json][] = [
      ...Object.entries<Json>(operation.requestBody?.content ?? {}).map(([type, m]): [string, Json] => [`request ${type}`, m]),
      ...Object.entries<Json>(operation.responses).flatMap(([status, r]) =>
        Object.entries<Json>(r.content ?? {}).map(([type, m]): [string, Json] => [`${status} ${type}`, m]),
      ),
    ];
    for (const [where, m] of media) {
      const examples = [
        ...(m.example !== undefined ? [m.example] : []),
        ...Object.values<Json>(m.examples ?? {}).map((e) => e.value),
        ...(m.schema?.$ref ? [] : (m.schema?.examples ?? [])),
      ];
      for (const example of examples) check(`${operation.operationId} ${where}`, m.schema, example);
    }
  }
  assert.deepEqual(invalid, []);
  assert.ok(checked >= 60, `${checked} examples checked`);
});
