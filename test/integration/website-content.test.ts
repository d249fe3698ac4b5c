/**
 * Uploading website content through the gateway on PostgreSQL and RabbitMQ: bombs stop at the
 * plan's limit without stalling the gateway, one upload at a time per user, identical uploads
 * at once, quotas, and the collection of archives nothing needs any more, raced against
 * uploads. No handler runs here, so every deploy job stays pending (it still needs its archive).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { collectContent } from '../../gateway/websites/content-store.ts';
import { openApiDocument } from '../../scripts/openapi.ts';
import { eventually } from '../helpers/eventually.ts';
import { startStack } from '../helpers/stack.ts';
import { file, gzipBomb, hiddenEntriesArchive, tgz } from '../helpers/tar-blocks.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;
const GiB = 1024 ** 3;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('website content uploads', { timeout: 280_000 }, () => {
  let stack: Stack;
  let db: Knex;
  let contentDir: string;
  const tokens: Record<string, string> = {};

  const upload = async (who: string, site: string, body: Buffer, form: 'gzip' | 'json' = 'gzip') => {
    const res = await fetch(`${stack.url}/v1/websites/${site}/content`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': form === 'gzip' ? 'application/gzip' : 'application/json' },
      body: form === 'gzip' ? body : JSON.stringify({ archive: body.toString('base64') }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const stored = () => readdirSync(contentDir).sort();
  const siteRow = (name: string) => db('websites').where({ name }).first();

  /** A user with a token and one website on p1. */
  async function tenant(name: string, limits: Record<string, number> = {}): Promise<void> {
    const user = (await createUser(db, { name, role: 'user', limits }))!;
    tokens[name] = (
      await createToken(db, {
        userId: user.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    const res = await fetch(`${stack.url}/v1/websites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[name]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${name}site`, proxy: 'p1' }),
    });
    assert.equal(res.status, 202, await res.text());
  }

  before(async () => {
    contentDir = mkdtempSync(join(tmpdir(), 'up-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    stack = await startStack({ roles: ['gateway', 'recorder'] });
    db = stack.database!.knex;
    const res = await fetch(`${stack.url}/v1/proxies`, {
      method: 'POST',
      headers: { ...stack.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'p1', wildcardDomain: 'p1.content.test', addresses: ['192.0.2.10'] }),
    });
    assert.equal(res.status, 202, await res.text());
    // A member that is never reached (no handler runs): its deploy jobs stay queued.
    const host = {
      id: crypto.randomUUID(),
      name: 'member1',
      address: '192.0.2.11',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      roles: ['proxy'],
    };
    await db('hosts').insert(host);
    const group = await db('proxy_groups').where({ name: 'p1' }).first();
    await db('proxy_members').insert({ group_id: group.id, host_id: host.id });
  });

  after(async () => {
    await stack?.shutdown();
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
    delete process.env.UP_CONTENT_DIR;
  });

  test('gzip bombs past the plan are refused 413 at once, while /healthz keeps answering and memory stays flat', async () => {
    const users = ['bomba', 'bombb', 'bombc', 'bombd'];
    for (const user of users) await tenant(user, { diskGb: 1 });
    const bomb = gzipBomb(3 * GiB);
    assert.ok(bomb.length < 4 * 1024 * 1024, `${bomb.length} bytes`);

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const latencies: number[] = [];
    let uploading = true;
    const probe = (async () => {
      while (uploading) {
        const started = performance.now();
        const res = await fetch(`${stack.url}/healthz`);
        await res.arrayBuffer();
        latencies.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const started = performance.now();
    const answers = await Promise.all(
      users.map(async (user, i) => {
        const answer = await upload(user, `${user}site`, bomb, i === 3 ? 'json' : 'gzip');
        return { ...answer, ms: performance.now() - started };
      }),
    );
    uploading = false;
    await probe;
    clearInterval(sampler);

    for (const answer of answers) {
      assert.equal(answer.status, 413, JSON.stringify(answer.body));
      assert.match(answer.body.message, /expands to more than 1073741824 bytes, what the plan leaves/);
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))];
    const growthMb = (peak - baseline) / 1024 / 1024;
    console.log(
      `# 4 concurrent ${bomb.length}-byte bombs (3 GiB each, plan limit 1 GiB): refused after ${answers.map((a) => Math.round(a.ms)).join(', ')} ms; /healthz p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${latencies.length} probes; RSS +${growthMb.toFixed(0)} MB`,
    );
    // Generous bounds for a busy 2-core machine; the synchronous inflate stalled /healthz 5.7 s and took +500 MB per upload.
    assert.ok(p99 < 500, `/healthz p99 ${p99} ms`);
    assert.ok(growthMb < 200, `RSS grew ${growthMb} MB`);
    for (const answer of answers) assert.ok(answer.ms < 60_000, `refused after ${answer.ms} ms`);
    assert.deepEqual(stored(), [], 'nothing of a refused upload stays in the store');
    assert.equal((await db('jobs').where({ op: 'website.deploy' })).length, 0);
  });

  test("the review's archive (a bad checksum hiding a symlink and a device) and other bad archives are refused 400, nothing stored", async () => {
    await tenant('badarch');
    for (const [body, message] of [
      [hiddenEntriesArchive(), /bad checksum/],
      [Buffer.from('not a gzip at all'), /not a gzip-compressed tar archive/],
      [Buffer.concat([tgz(file('a.html', 'a')), Buffer.from('trailing')]), /not a gzip-compressed tar archive/],
    ] as const) {
      for (const form of ['gzip', 'json'] as const) {
        const answer = await upload('badarch', 'badarchsite', body, form);
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.match(answer.body.message, message);
      }
    }
    const wrongType = await fetch(`${stack.url}/v1/websites/badarchsite/content`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.badarch}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(wrongType.status, 415);
    const noArchive = await fetch(`${stack.url}/v1/websites/badarchsite/content`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.badarch}`, 'content-type': 'application/json' },
      body: '{"archive": "@@@@"}',
    });
    assert.equal(noArchive.status, 415);
    assert.deepEqual(stored(), []);
    assert.equal((await siteRow('badarchsite')).content_sha256, null);
  });

  test('one upload at a time per user: a second one while the first streams is 409, the next one after it is fine', async () => {
    await tenant('slow');
    const archive = tgz(file('index.html', 'slow\n'));
    let finish!: () => void;
    const first = new Promise<{ status: number; body: Json }>((resolve, reject) => {
      const req = httpRequest(`${stack.url}/v1/websites/slowsite/content`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.slow}`, 'content-type': 'application/gzip', 'content-length': archive.length },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.write(archive.subarray(0, 10));
      finish = () => req.end(archive.subarray(10));
    });
    await eventually('the first upload holds its claim', async () => (await db('content_uploads').count({ n: '*' }).first())?.n === '1');
    const second = await upload('slow', 'slowsite', archive);
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.match(second.body.message, /another upload of yours is in progress/);
    // Another user is not held up.
    await tenant('quick');
    assert.equal((await upload('quick', 'quicksite', archive)).status, 202);
    finish();
    assert.equal((await first).status, 202, JSON.stringify((await first).body));
    assert.equal((await upload('slow', 'slowsite', archive, 'json')).status, 202);
    assert.equal((await db('content_uploads').count({ n: '*' }).first())?.n, '0');
  });

  test('eight identical uploads at once (eight users) all answer 202 and the store holds the archive once', async () => {
    const users = Array.from({ length: 8 }, (_, i) => `same${i}`);
    for (const user of users) await tenant(user);
    const archive = tgz(file('index.html', 'the same for everyone\n'));
    const before = stored();
    const answers = await Promise.all(users.map((user) => upload(user, `${user}site`, archive)));
    for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.body));
    const hash = sha256(archive);
    assert.deepEqual(
      stored().filter((f) => !before.includes(f)),
      [`${hash}.tar.gz`],
    );
    for (const user of users) assert.equal((await siteRow(`${user}site`)).content_sha256, hash);
    const jobs = await db('jobs').where({ op: 'website.deploy' }).whereRaw("payload #>> '{archive,sha256}' = ?", [hash]);
    assert.equal(jobs.length, 8);
  });

  test("the expansion limit and the store quota follow the owner's plan", async () => {
    await tenant('planned', { diskGb: 1 });
    const user = await db('users').where({ name: 'planned' }).first();
    // Another site of theirs already holds 600 MiB of content: 424 MiB are left for this one.
    await db('websites').insert({
      id: crypto.randomUUID(),
      name: 'plannedother',
      owner_id: user.id,
      proxy_group_id: (await siteRow('plannedsite')).proxy_group_id,
      temp_domain: 'plannedother-planned.p1.content.test',
      spec: JSON.stringify((await siteRow('plannedsite')).spec),
      content_sha256: 'f'.repeat(64),
      content_bytes: 1024,
      content_expanded_bytes: 600 * 1024 * 1024,
    });
    const tooBig = await upload('planned', 'plannedsite', gzipBomb(500 * 1024 * 1024));
    assert.equal(tooBig.status, 413, JSON.stringify(tooBig.body));
    assert.match(tooBig.body.message, new RegExp(`expands to more than ${GiB - 600 * 1024 * 1024} bytes`));
    assert.equal((await upload('planned', 'plannedsite', gzipBomb(300 * 1024 * 1024))).status, 202);
    // The store: what the other site keeps, plus pending deploys, may not pass the plan either.
    await db('websites')
      .where({ name: 'plannedother' })
      .update({ content_bytes: GiB - 100, content_expanded_bytes: 0 });
    const full = await upload('planned', 'plannedsite', tgz(file('index.html', 'x')));
    assert.equal(full.status, 422, JSON.stringify(full.body));
    assert.equal(full.body.error, 'limit_reached');
    assert.match(full.body.message, /content store keeps at most 1073741824 bytes/);
    await db('users')
      .where({ id: user.id })
      .update({ limits: JSON.stringify({ diskGb: 0 }) });
    const none = await upload('planned', 'plannedsite', tgz(file('index.html', 'x')));
    assert.equal(none.status, 422, JSON.stringify(none.body));
    await db('websites').where({ name: 'plannedother' }).delete();
  });

  test('collection keeps every archive a site or a pending deploy needs, and removes the rest', async () => {
    await tenant('gc');
    const a = tgz(file('index.html', 'version a\n'));
    const b = tgz(file('index.html', 'version b\n'));
    assert.equal((await upload('gc', 'gcsite', a)).status, 202);
    assert.equal((await upload('gc', 'gcsite', b)).status, 202);
    // b is current; a is no site's any more, but its deploy job has not run yet.
    await collectContent(db);
    assert.ok(stored().includes(`${sha256(a)}.tar.gz`));
    assert.ok(stored().includes(`${sha256(b)}.tar.gz`));
    const finish = (archive: Buffer) =>
      db('jobs')
        .where({ op: 'website.deploy' })
        .whereRaw("payload #>> '{archive,sha256}' = ?", [sha256(archive)])
        .update({ status: 'succeeded' });
    await finish(a);
    await collectContent(db);
    assert.ok(!stored().includes(`${sha256(a)}.tar.gz`), 'a is gone once its deploy ended');
    assert.ok(stored().includes(`${sha256(b)}.tar.gz`), 'b stays: the site serves it');

    // A temp file of a crashed upload goes once it is old; one of an upload under way stays.
    const oldTemp = join(contentDir, `.upload-${crypto.randomUUID()}.tmp`);
    const newTemp = join(contentDir, `.upload-${crypto.randomUUID()}.tmp`);
    writeFileSync(oldTemp, 'x');
    writeFileSync(newTemp, 'x');
    utimesSync(oldTemp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    await collectContent(db);
    assert.ok(!stored().includes(oldTemp.split('/').pop()!));
    assert.ok(stored().includes(newTemp.split('/').pop()!));
    rmSync(newTemp);

    // Deleting the site releases b once its deploy has ended too.
    const res = await fetch(`${stack.url}/v1/websites/gcsite`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.gc}` } });
    assert.equal(res.status, 202);
    await collectContent(db);
    assert.ok(stored().includes(`${sha256(b)}.tar.gz`), 'b stays while its deploy is pending');
    await finish(b);
    await collectContent(db);
    assert.ok(!stored().includes(`${sha256(b)}.tar.gz`));
  });

  test('the collector never removes an archive an upload is placing at the same moment', async () => {
    await tenant('race');
    const x = tgz(file('index.html', 'x marks the spot\n'));
    const y = tgz(file('index.html', 'y\n'));
    assert.equal((await upload('race', 'racesite', x)).status, 202);
    assert.equal((await upload('race', 'racesite', y)).status, 202);
    await db('jobs')
      .where({ op: 'website.deploy' })
      .whereRaw("payload #>> '{archive,sha256}' = ?", [sha256(x)])
      .update({ status: 'succeeded' });
    assert.ok(stored().includes(`${sha256(x)}.tar.gz`), 'x is in the store, referenced by nothing');

    // The collector has decided that x goes; before it removes x, the user uploads x again.
    let again!: Promise<{ status: number; body: Json }>;
    await collectContent(db, {
      beforeRemove: async () => {
        let answered = false;
        again = upload('race', 'racesite', x).finally(() => (answered = true));
        // The upload gets as far as placing its file, where it must wait for the collector.
        await eventually(
          'the upload has placed its archive, or waits to',
          async () => {
            // pg_locks shows every database of the server: only this test's database counts.
            const { rows } = await db.raw(
              "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            );
            return answered || rows[0].n > 0;
          },
          { timeoutMs: 20_000 },
        );
      },
    });
    const answer = await again;
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal((await siteRow('racesite')).content_sha256, sha256(x));
    assert.ok(stored().includes(`${sha256(x)}.tar.gz`), 'the archive the site now references is in the store');
    await collectContent(db);
    assert.ok(stored().includes(`${sha256(x)}.tar.gz`));
  });

  test('OpenAPI shows the request body: application/gzip and application/json {archive}', async () => {
    const doc = (await openApiDocument()) as Json;
    const body = doc.paths['/v1/websites/{site}/content'].post.requestBody;
    assert.equal(body.required, true);
    assert.deepEqual(Object.keys(body.content).sort(), ['application/gzip', 'application/json']);
    assert.equal(body.content['application/gzip'].schema.contentMediaType, 'application/gzip');
    assert.deepEqual(body.content['application/json'].schema.required, ['archive']);
  });
});
