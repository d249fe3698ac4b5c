/**
 * Database dumps and imports end to end on real PostgreSQL 15 and MariaDB 10.11 servers in lab
 * hosts (test/helpers/db-lab.ts): rows put in with the real clients, dumped through the
 * API and the CLI, imported into a second database and read back; another tenant gets 404
 * everywhere; hostile imports (other databases, shell escapes, COPY … PROGRAM, files) fail and
 * change nothing; dumps are collected after their day; no secret lands in a job row.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { collectDatabaseFiles } from '../../gateway/databases/transfer.ts';
import { DATABASE_FILES_TTL_MS } from '../../queues/databases/files.ts';
import { DB_ENGINES, type DbEngine, dbLab, dbLabCalls, type DbLab, type Login } from '../helpers/db-lab.ts';
import { runUp } from '../helpers/processes.ts';
import type { Json } from '../helpers/stack-api.ts';

const TENANTS = ['ddalice', 'ddbob'];

describe('database dumps and imports on real PostgreSQL and MariaDB', { timeout: 400_000 }, () => {
  let lab: DbLab;
  /** Every password this test used: none may be stored anywhere by up. */
  const passwords = new Set<string>();
  const { api, settled, succeeded } = dbLabCalls(() => lab);
  const admin = api('admin');
  const alice = api('ddalice');
  const bob = api('ddbob');
  let contentDir: string;

  before(async () => {
    contentDir = mkdtempSync(join(tmpdir(), 'up-dbd-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    lab = await dbLab({ prefix: 'up-dbd', subnet: '10.77.62', bridge: 'uplab62', tenants: TENANTS });
  });

  after(async () => {
    await lab?.down();
    delete process.env.UP_CONTENT_DIR;
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
  });

  /** A raw request: an SQL body (gzip or plain), or a download. */
  async function raw(who: string, method: string, path: string, body?: Buffer, type = 'application/sql') {
    const res = await fetch(`${lab.stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${lab.tokens[who]}`, ...(body ? { 'content-type': type } : {}) },
      body,
    });
    return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
  }

  /** An import of `sql` into alice's database `db`: the job, finished. */
  async function importInto(engine: DbEngine, db: string, sql: string, gzip = false): Promise<Json> {
    const res = await raw(
      'ddalice',
      'POST',
      `/v1/databases/${db}/import`,
      gzip ? gzipSync(sql) : Buffer.from(sql),
      gzip ? 'application/gzip' : 'application/sql',
    );
    assert.equal(res.status, 202, `${engine}: ${res.bytes.toString()}`);
    const job = JSON.parse(res.bytes.toString());
    assert.equal(job.op, 'database.import');
    return settled(job, 'ddalice');
  }

  const logins = {} as Record<DbEngine, { alice: Login; bob: Login }>;
  const MARKERS = ['/tmp/up-dbd-pwned-shell', '/tmp/up-dbd-pwned-program', '/tmp/up-dbd-pwned-outfile'];

  for (const engine of DB_ENGINES) {
    const x = engine === 'postgresql' ? 'p' : 'm';
    test(`${engine}: rows dumped through the API, imported into a second database, read back with the real client`, async () => {
      const pw = () => {
        const p = `${engine}-${crypto.randomUUID()}`;
        passwords.add(p);
        return p;
      };
      const app = { user: `ddalice_app${x}`, password: pw() };
      const own = { user: `ddbob_own${x}`, password: pw() };
      logins[engine] = { alice: app, bob: own };
      await succeeded(await alice('POST', '/v1/database-users', { name: `app${x}`, engine, password: app.password }), 'ddalice');
      for (const db of [`src${x}`, `dst${x}`]) {
        await succeeded(await alice('POST', '/v1/databases', { name: db, engine }), 'ddalice');
        await succeeded(await alice('PUT', `/v1/databases/${db}/users`, { user: `app${x}`, access: 'rw' }), 'ddalice');
      }
      await succeeded(await bob('POST', '/v1/database-users', { name: `own${x}`, engine, password: own.password }), 'ddbob');
      await succeeded(await bob('POST', '/v1/databases', { name: `data${x}`, engine }), 'ddbob');
      await succeeded(await bob('PUT', `/v1/databases/data${x}/users`, { user: `own${x}`, access: 'rw' }), 'ddbob');
      const bobs = await lab.client(engine, own, `ddbob_data${x}`, "CREATE TABLE t (s varchar(20)); INSERT INTO t VALUES ('secret');");
      assert.ok(bobs.ok, bobs.out);

      const put = await lab.client(
        engine,
        app,
        `ddalice_src${x}`,
        "CREATE TABLE items (n integer, label varchar(40)); INSERT INTO items VALUES (7, 'seven-rows-here'), (8, 'eight-rows-here');",
      );
      assert.ok(put.ok, put.out);

      // The dump: a job, then its file (gzip), owner only.
      const started = await alice('POST', `/v1/databases/src${x}/dump`);
      assert.equal(started.status, 202, JSON.stringify(started.body));
      assert.equal(started.body.op, 'database.dump');
      const dump = await settled(started.body, 'ddalice');
      assert.equal(dump.status, 'succeeded', JSON.stringify(dump.error));
      const { sha256, bytes } = dump.result;
      assert.match(sha256, /^[0-9a-f]{64}$/);
      const file = await raw('ddalice', 'GET', `/v1/databases/src${x}/dumps/${sha256}`);
      assert.equal(file.status, 200);
      assert.equal(file.type, 'application/gzip');
      assert.equal(file.bytes.length, bytes);
      const sql = gunzipSync(file.bytes).toString();
      assert.match(sql, /CREATE TABLE [`"]?(public\.)?items[`"]?/);
      assert.match(sql, /seven-rows-here/);
      assert.match(sql, /eight-rows-here/);

      // Bob: 404 for every door of alice's database, and for the dump itself.
      assert.equal((await bob('POST', `/v1/databases/src${x}/dump`)).status, 404);
      assert.equal((await raw('ddbob', 'GET', `/v1/databases/src${x}/dumps/${sha256}`)).status, 404);
      assert.equal((await raw('ddbob', 'POST', `/v1/databases/src${x}/import`, Buffer.from('SELECT 1;'))).status, 404);
      // Nor through his own database: the dump is src's, not data's.
      assert.equal((await raw('ddbob', 'GET', `/v1/databases/data${x}/dumps/${sha256}`)).status, 404);
      // Bad input: a checksum that is not one, an empty body.
      assert.equal((await raw('ddalice', 'GET', `/v1/databases/src${x}/dumps/..%2f..%2fetc`)).status, 400);
      assert.equal((await raw('ddalice', 'POST', `/v1/databases/dst${x}/import`, Buffer.alloc(0))).status, 400);

      // The import, gzip as dumped, into the second database; then plain SQL.
      const imported = await importInto(engine, `dst${x}`, sql, true);
      assert.equal(imported.status, 'succeeded', JSON.stringify(imported.error));
      assert.ok(imported.result.bytes >= sql.length - 200, JSON.stringify(imported.result));
      const plain = await importInto(engine, `dst${x}`, "INSERT INTO items VALUES (9, 'nine');");
      assert.equal(plain.status, 'succeeded', JSON.stringify(plain.error));
      const back = await lab.client(engine, app, `ddalice_dst${x}`, 'SELECT n, label FROM items ORDER BY n');
      assert.ok(back.ok, back.out);
      assert.deepEqual(
        back.out.split('\n').map((l) => l.split(/[|\t]/)),
        [
          ['7', 'seven-rows-here'],
          ['8', 'eight-rows-here'],
          ['9', 'nine'],
        ],
      );
    });

    test(`${engine}: hostile imports fail with their first error lines and change nothing outside the database`, async () => {
      const hostile =
        engine === 'postgresql'
          ? [
              [`INSERT INTO items VALUES (100, 'x');\n\\connect ddbob_data${x}\nINSERT INTO t VALUES ('pwned');\n`, /restricted/],
              [`\\unrestrict guess\n\\! touch ${MARKERS[0]}\n`, /restricted/],
              [`\\restrict mine\n\\unrestrict mine\n\\! touch ${MARKERS[0]}\n`, /restricted/],
              [`COPY items FROM PROGRAM 'touch ${MARKERS[1]}';\n`, /permission denied|must be superuser|pg_execute_server_program/],
              [`COPY items TO '${MARKERS[2]}';\n`, /permission denied|must be superuser|pg_write_server_files/],
              [`SET ROLE "ddbob_data${x}-owner";\n`, /permission denied/],
              ['RESET ROLE;\nSET SESSION AUTHORIZATION up;\n', /permission denied/],
              [`SELECT dblink_connect('dbname=ddbob_data${x}');\n`, /does not exist/],
              ['CREATE ROLE sneaky SUPERUSER;\n', /permission denied|must be superuser/],
              [`ALTER DATABASE ddbob_data${x} CONNECTION LIMIT 0;\n`, /must be owner|permission denied/],
            ]
          : [
              [`USE ddbob_data${x};\nINSERT INTO t VALUES ('pwned');\n`, /denied/i],
              [`INSERT INTO ddbob_data${x}.t VALUES ('pwned');\n`, /denied/i],
              [`\\! touch ${MARKERS[0]}\n`, /sandbox/i],
              [`system touch ${MARKERS[0]}\n`, /sandbox/i],
              [`SELECT 'x' INTO OUTFILE '${MARKERS[2]}';\n`, /denied/i],
              ["LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE items;\n", /denied|not allowed|disabled|sandbox/i],
              [`\\r ddbob_data${x}\n`, /denied|sandbox/i],
              ["CREATE USER 'sneaky'@'%';\n", /denied/i],
              [`DROP DATABASE ddbob_data${x};\n`, /denied/i],
              ['GRANT ALL ON *.* TO ddalice_app;\n', /denied/i],
            ];
      for (const [sql, said] of hostile as [string, RegExp][]) {
        const job = await importInto(engine, `dst${x}`, sql, sql.length % 2 === 0);
        assert.equal(job.status, 'failed', `${engine} must refuse: ${sql}`);
        assert.match(job.error.message, said, `${engine}: ${sql} → ${job.error.message}`);
        assert.doesNotMatch(job.error.message, /password=|(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])/i, 'no temporary password');
      }
      for (const marker of MARKERS) assert.equal(existsSync(marker), false, `${marker} was not created`);
      const { alice: app, bob: own } = logins[engine];
      assert.deepEqual(
        await lab.client(engine, own, `ddbob_data${x}`, 'SELECT s FROM t'),
        { ok: true, out: 'secret' },
        "bob's data untouched",
      );
      assert.deepEqual(await lab.client(engine, app, `ddalice_dst${x}`, 'SELECT count(*) FROM items'), { ok: true, out: '3' });
      if (engine === 'postgresql') {
        // One transaction: the INSERT before the refused \connect did not stay.
        assert.deepEqual(await lab.client(engine, app, `ddalice_dst${x}`, 'SELECT count(*) FROM items WHERE n = 100'), {
          ok: true,
          out: '0',
        });
      }
      // The temporary logins are gone: nothing but bob's and alice's own users can be seen.
      const logins2 =
        engine === 'postgresql'
          ? await lab.client(engine, app, `ddalice_dst${x}`, "SELECT count(*) FROM pg_roles WHERE rolname LIKE '%-imp'")
          : await lab.client(
              engine,
              app,
              `ddalice_dst${x}`,
              "SELECT count(*) FROM information_schema.processlist WHERE user LIKE 'up\\_imp\\_%'",
            );
      assert.deepEqual(logins2, { ok: true, out: '0' });
    });
  }

  test('the CLI: dump to a file (never to a terminal), import from a file', async () => {
    const env = { UP_URL: lab.stack.url!, UP_TOKEN: lab.tokens.ddalice, UP_LOG_LEVEL: 'silent' };
    const dir = mkdtempSync(join(tmpdir(), 'up-dbd-cli-'));
    try {
      const out = join(dir, 'src.sql.gz');
      const dumped = await runUp(['databases', 'dump', 'srcp', '--out', out], env);
      assert.equal(dumped.code, 0, dumped.stderr);
      assert.match(dumped.stderr, /dump srcp: (queued|running|succeeded)/);
      assert.match(gunzipSync(readFileSync(out)).toString(), /seven-rows-here/);
      const sqlFile = join(dir, 'more.sql');
      writeFileSync(sqlFile, "INSERT INTO items VALUES (10, 'ten');\n");
      const imported = await runUp(['databases', 'import', 'dstp', sqlFile, '--json'], env);
      assert.equal(imported.code, 0, imported.stderr + imported.stdout);
      assert.equal(JSON.parse(imported.stdout).status, 'succeeded');
      // A failing import exits 1 with the first error line.
      writeFileSync(sqlFile, 'INSERT INTO nowhere VALUES (1);\n');
      const failed = await runUp(['databases', 'import', 'dstp', sqlFile], env);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /nowhere/);
      const bobs = await runUp(['databases', 'dump', 'srcp', '--out', out], { ...env, UP_TOKEN: lab.tokens.ddbob });
      assert.equal(bobs.code, 1);
      assert.match(bobs.stderr, /404/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad input is a 4xx naming it: too big for the plan, not SQL, hostile names', async () => {
    const patched = await admin('PATCH', '/v1/users/ddalice', { limits: { databaseMb: 0 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    try {
      const big = await raw('ddalice', 'POST', '/v1/databases/dstp/import', Buffer.from('SELECT 1;\n'));
      assert.equal(big.status, 413, big.bytes.toString());
      assert.match(big.bytes.toString(), /databaseMb/);
    } finally {
      await admin('PATCH', '/v1/users/ddalice', { limits: { databaseMb: 1024 } });
    }
    const json = await alice('POST', '/v1/databases/dstp/import', { sql: 'SELECT 1' });
    assert.equal(json.status, 415, JSON.stringify(json.body));
    for (const name of ['dstp;drop', "dstp'", '..%2fdstp', 'DSTP'])
      assert.equal((await raw('ddalice', 'POST', `/v1/databases/${name}/import`, Buffer.from('SELECT 1;'))).status, 400, name);
    assert.equal((await alice('POST', '/v1/databases/nosuch/dump')).status, 404);
  });

  test('dumps and uploads are collected after a day; then the download is 404', async () => {
    const started = await alice('POST', '/v1/databases/srcp/dump');
    const dump = await settled(started.body, 'ddalice');
    assert.equal(dump.status, 'succeeded');
    assert.equal((await raw('ddalice', 'GET', `/v1/databases/srcp/dumps/${dump.result.sha256}`)).status, 200);
    assert.deepEqual(await collectDatabaseFiles(), [], 'nothing is a day old yet');
    const removed = await collectDatabaseFiles({ now: Date.now() + DATABASE_FILES_TTL_MS + 60_000 });
    assert.ok(removed.includes(`${dump.result.sha256}.sql.gz`), removed.join(' '));
    assert.ok(
      removed.some((name) => name.startsWith('import-')),
      removed.join(' '),
    );
    assert.equal((await raw('ddalice', 'GET', `/v1/databases/srcp/dumps/${dump.result.sha256}`)).status, 404);
  });

  test('no secret in the job rows: no temporary password, no tenant password', async () => {
    const db = lab.db;
    const rows = await db('jobs').whereIn('op', ['database.dump', 'database.import']).select('id', 'payload', 'result', 'error');
    assert.ok(rows.length >= 20, `${rows.length} jobs`);
    const events = await db('job_events')
      .whereIn(
        'job_id',
        rows.map((r: Json) => r.id),
      )
      .select('*');
    const text = JSON.stringify([rows, events]);
    // The temporary logins' passwords are 48 hex digits; a sha256 (64) is not one.
    assert.doesNotMatch(text, /(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])/);
    assert.doesNotMatch(text, /PGPASSFILE|IDENTIFIED BY|password=/i);
    for (const p of passwords) assert.ok(!text.includes(p));
  });
});
