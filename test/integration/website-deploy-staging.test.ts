/**
 * Deploying content on a real lab proxy host (sshd and nginx in a network namespace): the
 * review's crafted archive never gets past the API, and when an archive goes wrong on the
 * host anyway (sent straight to the handler) or the deploy is aborted, no staging directory
 * survives and the old content keeps being served; deleting a site sweeps its leftovers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import websiteDeployHandler from '../../handlers/websites/website.deploy/handler.ts';
import { HostConnector } from '../../handlers/runtime/connector.ts';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { curlSite, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';
import { file, header, hiddenEntriesArchive, tar, tgz } from '../helpers/tar-blocks.ts';

const run = promisify(execFile);
const PORT = 80;
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const KEY = 'stage-stager';
const TEMP = `${KEY}.p1.stage.test`;

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('website content on a lab host: refused archives, failed deploys, leftovers', { timeout: 240_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx[] = [];
  let stack: Stack;
  let contentDir: string;
  let token: string;
  let www: string;

  const api = async (who: 'admin' | 'stager', method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${who === 'admin' ? stack.adminToken : token}`,
        ...(body !== undefined ? { 'content-type': contentType } : {}),
      },
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };

  async function succeeded(response: { status: number; body: Json }, who: 'admin' | 'stager' = 'admin'): Promise<Json[]> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const jobs = await Promise.all(
      response.body.jobs
        .filter((job: Json) => !job.op.startsWith('cert.'))
        .map(async (job: Json) => {
          for (let i = 0; i < 600; i++) {
            const { body } = await api(who, 'GET', `/v1/jobs/${job.id}`);
            if (FINAL.has(body.status)) return body;
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error(`job ${job.id} did not finish`);
        }),
    );
    for (const job of jobs) assert.equal(job.status, 'succeeded', `${job.op}: ${JSON.stringify(job.error)}`);
    return jobs;
  }

  /** What deploys left beside the document roots (theirs and other sites'). */
  const leftovers = () =>
    readdirSync(www)
      .filter((name) => /\.up-(new|old)-/.test(name))
      .sort();
  /** Anything but files and directories anywhere under www: what the crafted archive tried to plant. */
  const planted = async () => (await run('find', [www, '(', '-type', 'l', '-o', '-type', 'c', '-o', '-type', 'b', ')'])).stdout.trim();

  /** Runs website.deploy on the lab host directly, as a handler process would, for an archive put in the store by hand. */
  async function deployDirectly(archive: Buffer, template: Json, signal = new AbortController().signal): Promise<unknown> {
    const sha256 = createHash('sha256').update(archive).digest('hex');
    writeFileSync(join(contentDir, `${sha256}.tar.gz`), archive);
    const connector = new HostConnector(lab.hosts[0].privateKeyFile);
    try {
      const ctx = {
        signal,
        log: pino({ level: 'silent' }),
        job: { id: crypto.randomUUID(), attempt: 1, tenant: 'stager', actor: 'test', target: null },
        connect: (h: HostRef) => connector.connect(h),
      };
      return await websiteDeployHandler.run({ ...template, archive: { sha256, bytes: archive.length } } as never, ctx as never);
    } finally {
      await connector.close();
    }
  }

  let deployPayload: Json;

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-arch', subnet: '10.77.23', bridge: 'uplab23' });
    nginx = await labNginx(lab.hosts, PORT);
    www = `${nginx[0].dir}/www`;
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    contentDir = mkdtempSync(join(tmpdir(), 'up-stage-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    stack = await startStack();
    const db = stack.database!.knex;
    const host = lab.hosts[0];
    await db('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['proxy'],
    });
    const user = (await createUser(db, { name: 'stager', role: 'user' }))!;
    token = (
      await createToken(db, {
        userId: user.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    // up creates up-stager (tenant.provision with the site); the test removes it.
    await isolateSubids(db, ['stager']);
    await succeeded(
      await api('admin', 'POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.stage.test', addresses: ['192.0.2.10'], httpPort: PORT }),
    );
    await succeeded(await api('admin', 'POST', '/v1/proxies/p1/hosts', { host: host.name, baseDir: nginx[0].dir }));
    await succeeded(await api('stager', 'POST', '/v1/websites', { name: 'stage', proxy: 'p1' }), 'stager');
    const [job] = await succeeded(
      await api('stager', 'POST', '/v1/websites/stage/content', tgz(file('index.html', 'version one\n')), 'application/gzip'),
      'stager',
    );
    // The handler's payload as the admin sees it: users' job views carry no host refs or layouts.
    deployPayload = (await api('admin', 'GET', `/v1/jobs/${job.id}`)).body.payload;
    assert.deepEqual(await curlSite(TEMP, host.address, PORT), { status: 200, body: 'version one\n' });
  });

  after(async () => {
    await stack?.shutdown();
    for (const n of nginx) await n.down().catch(() => undefined);
    await lab?.down();
    await removeUnixUsers(['stager']);
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
    delete process.env.UP_CONTENT_DIR;
  });

  test("the review's archive is refused at the API (GNU tar would have extracted a symlink to /etc and a device from it)", async () => {
    const crafted = hiddenEntriesArchive();
    // What GNU tar makes of it: it skips the bad header and finds the hidden entries.
    const listed = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile('tar', ['-tvzf', '-'], (error, stdout) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }),
      );
      child.stdin!.end(crafted);
    });
    assert.match(listed.stdout, /etc -> \/etc/);
    assert.match(listed.stdout, /^c.* null$/m);
    assert.equal(listed.code, 2);

    const answer = await api('stager', 'POST', '/v1/websites/stage/content', crafted, 'application/gzip');
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.match(answer.body.message, /bad checksum at byte 0/);
    const json = await api('stager', 'POST', '/v1/websites/stage/content', { archive: crafted.toString('base64') });
    assert.equal(json.status, 400);
    assert.deepEqual(leftovers(), []);
    assert.equal(await planted(), '');
    assert.deepEqual(await curlSite(TEMP, lab.hosts[0].address, PORT), { status: 200, body: 'version one\n' });
  });

  test('the same archive sent straight to website.deploy: the job fails, the staging directory and what tar planted are gone, the old content stays', async () => {
    await assert.rejects(deployDirectly(hiddenEntriesArchive(), deployPayload), /tar/);
    assert.deepEqual(leftovers(), []);
    assert.equal(await planted(), '');
    assert.deepEqual(await curlSite(TEMP, lab.hosts[0].address, PORT), { status: 200, body: 'version one\n' });
    // Not gzip at all, and a tar that ends in the middle of a file: the same.
    await assert.rejects(deployDirectly(Buffer.from('not gzip'), deployPayload));
    await assert.rejects(deployDirectly(gzipSync(tar(file('a.html', 'a'.repeat(2000))).subarray(0, 1536)), deployPayload));
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(await curlSite(TEMP, lab.hosts[0].address, PORT), { status: 200, body: 'version one\n' });
  });

  test('a deploy aborted while tar extracts leaves no staging directory', async () => {
    const big = gzipSync(tar(header({ name: 'noise.bin', size: 48 * 1024 * 1024 }), randomBytes(48 * 1024 * 1024)), { level: 1 });
    const abort = new AbortController();
    const watching = (async () => {
      for (let i = 0; i < 20_000 && !abort.signal.aborted; i++) {
        if (leftovers().length) return abort.abort(new Error('aborted by the test'));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await assert.rejects(deployDirectly(big, deployPayload, abort.signal));
    await watching;
    assert.ok(abort.signal.aborted, 'the staging directory was seen, and the deploy aborted while it existed');
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(await curlSite(TEMP, lab.hosts[0].address, PORT), { status: 200, body: 'version one\n' });
  });

  test('a deploy sweeps staging directories abandoned long ago, and spares fresh ones', async () => {
    const stale = `${www}/.${KEY}.up-new-0badc0ffee00`;
    const fresh = `${www}/.${KEY}.up-new-0f0f0f0f0f0f`;
    mkdirSync(stale);
    mkdirSync(fresh);
    await run('touch', ['-d', '-1 hour', stale]);
    await succeeded(
      await api('stager', 'POST', '/v1/websites/stage/content', tgz(file('index.html', 'version two\n')), 'application/gzip'),
      'stager',
    );
    assert.deepEqual(leftovers(), [`.${KEY}.up-new-0f0f0f0f0f0f`]);
    assert.deepEqual(await curlSite(TEMP, lab.hosts[0].address, PORT), { status: 200, body: 'version two\n' });
  });

  test('deleting the site sweeps its staging leftovers (devices included), and only its own', async () => {
    const own = `${www}/.${KEY}.up-new-123456abcdef`;
    const moved = `${www}/.${KEY}.up-old-123456abcdef`;
    const other = `${www}/.stage-other.up-new-123456abcdef`;
    for (const dir of [own, moved, other]) mkdirSync(dir, { recursive: true });
    await run('mknod', [`${own}/null`, 'c', '1', '3']);
    await run('ln', ['-s', '/etc', `${own}/etc`]);
    await succeeded(await api('stager', 'DELETE', '/v1/websites/stage'), 'stager');
    assert.deepEqual(leftovers(), ['.stage-other.up-new-123456abcdef']);
    assert.equal(await planted(), '');
    rmSync(other, { recursive: true });
  });
});
