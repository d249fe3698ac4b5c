/** The pieces of database dumps and imports that need no server: the psql filter, the executor's streams, collection. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { collectDatabaseFiles } from '../../gateway/databases/transfer.ts';
import { withoutRestrict } from '../../handlers/databases/transfer.ts';
import { LocalExecutor, sh } from '../../lib/exec/index.ts';
import { DATABASE_FILES_TTL_MS, databaseFilesDir } from '../../queues/databases/files.ts';

async function filtered(chunks: string[]): Promise<string> {
  let out = '';
  for await (const chunk of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(withoutRestrict())) out += chunk.toString();
  return out;
}

test("psql's restricted mode cannot be left from the file: its \\restrict and \\unrestrict lines go, across chunks", async () => {
  assert.equal(
    await filtered(['--\n\\restr', 'ict abc123\nSELECT 1;\n\\unrestrict abc', '123\n\\unrestrict\nSELECT 2;']),
    '--\nSELECT 1;\nSELECT 2;',
  );
  // Only whole lines that are the commands: the same words elsewhere stay.
  assert.equal(
    await filtered(["SELECT '\\restrict x';\n", '  \\unrestrict x\n', '\\restricted\n']),
    "SELECT '\\restrict x';\n  \\unrestrict x\n\\restricted\n",
  );
});

test('the executor pipes stdin from a stream and stdout into one, bytes intact', async () => {
  const exec = new LocalExecutor();
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
  const sink = new PassThrough();
  const received: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => received.push(chunk));
  const run = await exec.run(sh`gzip -c | gzip -dc`, {
    stdin: Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]),
    stdout: sink,
  });
  assert.equal(run.stdout, '');
  assert.ok(Buffer.concat(received).equals(bytes));
  await exec.close();
});

test('dumps, uploads and temp files are collected after a day, not before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-dbd-unit-'));
  try {
    const files = databaseFilesDir(dir);
    mkdirSync(files);
    for (const name of [`${'a'.repeat(64)}.sql.gz`, `import-${'b'.repeat(64)}.sql`, '.dump-x.tmp']) writeFileSync(join(files, name), 'x');
    const old = (Date.now() - DATABASE_FILES_TTL_MS - 60_000) / 1000;
    utimesSync(join(files, `${'a'.repeat(64)}.sql.gz`), old, old);
    assert.deepEqual(await collectDatabaseFiles({ dir }), [`${'a'.repeat(64)}.sql.gz`]);
    const later = Date.now() + DATABASE_FILES_TTL_MS + 60_000;
    assert.deepEqual((await collectDatabaseFiles({ dir, now: later })).sort(), ['.dump-x.tmp', `import-${'b'.repeat(64)}.sql`]);
    assert.deepEqual(await collectDatabaseFiles({ dir: join(dir, 'absent') }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
