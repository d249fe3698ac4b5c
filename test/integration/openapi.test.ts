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

  const operationIds = Object.values(doc.paths as Record<string, Record<string, { operationId?: string; tags?: string[] }>>).flatMap((p) => Object.values(p));
  assert.ok(operationIds.every((o) => o.operationId && o.tags?.length), 'every route has an operationId and tags');
  assert.equal(new Set(operationIds.map((o) => o.operationId)).size, operationIds.length, 'operationIds are unique');
});
