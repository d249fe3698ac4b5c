import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { memoryGateway } from '../helpers/gateway.ts';
import { callUrl, clientProgram, minimalCalls } from '../helpers/openapi-calls.ts';
import { useSecretsKey, type SecretsKey } from '../helpers/secrets-key.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADMIN = 'openapi-client-admin-token-0123456789';

// Inside the repository, so that the program resolves openapi-fetch and typescript from its node_modules.
mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
const dir = mkdtempSync(join(ROOT, 'node_modules/.cache/up-openapi-client-'));
let gateway: Awaited<ReturnType<typeof memoryGateway>>;
let doc: Record<string, any>;
let secretsKey: SecretsKey;

before(async () => {
  // A gateway with secrets configured (without, PUT /v1/secrets answers 503 by design).
  secretsKey = useSecretsKey();
  gateway = await memoryGateway(ADMIN);
  const response = await gateway.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  doc = response.json();
});
after(async () => {
  await gateway?.close();
  secretsKey?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('a client generated from /openapi.json calls every operation with only what the server needs (tsc --strict)', async () => {
  const calls = minimalCalls(doc);
  assert.ok(calls.length >= 60, `${calls.length} operations`);
  writeFileSync(join(dir, 'api.d.ts'), astToString(await openapiTS(doc as never)));
  writeFileSync(join(dir, 'every-operation.ts'), clientProgram(calls, './api.d.ts'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2023',
        lib: ['es2023', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        types: [],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        skipLibCheck: true,
        exactOptionalPropertyTypes: true,
      },
      files: ['every-operation.ts'],
    }),
  );
  const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir }).catch((error) => error);
  assert.equal(tsc.code ?? 0, 0, `the generated client refuses calls the server accepts:\n${tsc.stdout}${tsc.stderr}`);
});

test('the server accepts those minimal calls: nothing the document calls optional is required, no 500', async () => {
  const refused: string[] = [];
  for (const call of minimalCalls(doc)) {
    const response = await gateway.app.inject({
      method: call.method as never,
      url: callUrl(call),
      headers: { authorization: `Bearer ${ADMIN}` },
      ...(call.body !== undefined ? { payload: call.body as object } : {}),
    });
    const body = String(response.headers['content-type']).includes('json') ? response.json() : {};
    if (response.statusCode >= 500 || /required property/.test(body.message ?? ''))
      refused.push(`${call.operationId} ${call.method} ${callUrl(call)}: ${response.statusCode} ${body.message ?? ''}`);
  }
  assert.deepEqual(refused, []);
});

test('every 201/202 documents Location; every /v1 operation documents 429 and X-Up-As', () => {
  const missing: string[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, operation] of Object.entries<Record<string, any>>(item)) {
      for (const [status, response] of Object.entries<Record<string, any>>(operation.responses)) {
        if ((status === '201' || status === '202') && !response.headers?.Location)
          missing.push(`${operation.operationId} ${status} Location`);
      }
      if (!path.startsWith('/v1/')) continue;
      if (operation.responses['429']?.$ref !== '#/components/responses/TooManyRequests') missing.push(`${operation.operationId} 429`);
      if (!operation.parameters?.some((p: { $ref?: string }) => p.$ref === '#/components/parameters/ActAs'))
        missing.push(`${operation.operationId} X-Up-As (${method})`);
    }
  }
  assert.deepEqual(missing, []);
  const tooMany = doc.components.responses.TooManyRequests;
  assert.deepEqual(Object.keys(tooMany.headers), ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']);
});

test('statuses written in prose are enums', () => {
  const { schemas } = doc.components;
  assert.deepEqual(schemas.Alarm.properties.status.enum, ['open', 'cleared']);
  assert.deepEqual(schemas.HealthEntry.properties.state.enum, ['healthy', 'degraded', 'repairing', 'failed']);
  const audit = doc.paths['/v1/audit'].get.responses['200'].content['application/json'].schema.properties.items.items;
  assert.deepEqual(audit.properties.outcome.enum, ['ok', 'denied', 'rejected', 'error']);
});
