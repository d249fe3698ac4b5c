/**
 * A member that just joined a proxy group gets proxy.apply and every site's website.apply at
 * once. When a site's job takes the nginx lock first, the member has no nginx.conf yet: the
 * job must fail retryable (and touch nothing), so that its retry, after proxy.apply, serves the
 * site. The order is forced here by running the handlers one after the other on a lab member
 * that, unlike test/lab/nginx.sh's, has no bootstrap nginx.conf.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { applyProxy } from '../../handlers/proxies/proxy.apply/handler.ts';
import { applyWebsite } from '../../handlers/websites/website.apply/handler.ts';
import websiteDeleteHandler from '../../handlers/websites/website.delete/handler.ts';
import { sitePaths } from '../../handlers/websites/website.apply/view.ts';
import { HostConnector } from '../../handlers/runtime/connector.ts';
import type { HandlerContext } from '../../handlers/runtime/define.ts';
import { RetryableError, classify } from '../../lib/errors.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import type { websiteApply } from '../../queues/websites/ops.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { curlSite, eventually } from '../helpers/lab-nginx.ts';

const run = promisify(execFile);
const NGINX_SH = fileURLToPath(new URL('../lab/nginx.sh', import.meta.url));
const PORT = 80;
const WILDCARD = 'race.web.test';

describe('website.apply before proxy.apply on a fresh member', { timeout: 120_000 }, () => {
  let lab: Lab;
  let connector: HostConnector;
  let baseDir: string;
  let host: HostRef;
  let ctx: HandlerContext;

  const layout = () => ({ group: 'race', baseDir, httpPort: PORT, nginxUser: 'www-data', ipv6: false, acmeIssuer: null });
  const site = (key: string, generation = 1): PayloadOf<typeof websiteApply>['site'] => ({
    id: crypto.randomUUID(),
    key,
    generation,
    owner: null,
    serverNames: [`${key}.${WILDCARD}`],
    static: true,
    routes: [],
    maxBodySize: '1m',
    basicAuth: null,
    errorPages: [],
    headers: [],
    redirects: [],
    httpsRedirect: false,
    tls: false,
  });

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-race', subnet: '10.77.41', bridge: 'uplab41' });
    const [h] = lab.hosts;
    baseDir = `${h.dir}/nginx`;
    host = { name: h.name, address: h.address, port: h.port, user: h.user, hostKeySha256: h.hostKeySha256 };
    connector = new HostConnector(h.privateKeyFile);
    ctx = {
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
      job: { id: 'race', attempt: 1, tenant: null, actor: 'test', target: h.name },
      connect: (ref: HostRef) => connector.connect(ref),
    };
  });

  after(async () => {
    if (baseDir) await run('sh', [NGINX_SH, 'down', baseDir]).catch(() => undefined);
    await connector?.close();
    await lab?.down();
  });

  test('the site job fails retryable and touches nothing (so does website.delete); after proxy.apply its retry serves the site', async () => {
    const shop = site('shop-race');
    const payload = { host, layout: layout(), site: shop };
    await assert.rejects(applyWebsite(payload, ctx), (error: Error) => {
      assert.ok(error instanceof RetryableError, `${error.name}: ${error.message}`);
      assert.equal(classify(error), 'retryable');
      assert.equal((error as RetryableError).code, 'PROXY_NOT_READY');
      assert.match(error.message, /the proxy group's configuration is not on .* yet .*retrying/);
      return true;
    });
    const files = sitePaths(layout(), shop.key);
    assert.equal(existsSync(files.vhost), false, 'no vhost written before the proxy configuration');
    assert.equal(existsSync(files.docRoot), false, 'no document root made before the proxy configuration');

    // website.delete (the site removed while the member joins) waits for the configuration too.
    await assert.rejects(
      websiteDeleteHandler.run({ host, layout: layout(), site: { id: shop.id, key: shop.key, generation: 1 } }, ctx),
      (error: Error) => error instanceof RetryableError && error.code === 'PROXY_NOT_READY',
    );

    const proxy = await applyProxy({ host, layout: layout(), wildcardDomain: WILDCARD, generation: 1 }, ctx);
    assert.equal(proxy.started, true);

    // The retry (same message, next attempt).
    const applied = await applyWebsite(payload, { ...ctx, job: { ...ctx.job, attempt: 2 } });
    assert.equal(applied.changed, true);
    writeFileSync(`${files.docRoot}/index.html`, '<h1>race won</h1>\n');
    const answer = await eventually(
      () => curlSite(`${shop.key}.${WILDCARD}`, lab.hosts[0].address, PORT),
      (a) => a.status === 200,
    );
    assert.deepEqual(answer, { status: 200, body: '<h1>race won</h1>\n' });
    assert.equal((await curlSite(`nothing.${WILDCARD}`, lab.hosts[0].address, PORT)).status, 404);
  });

  test('a website.delete whose vhost is there but nginx.conf is not fails retryable and keeps the vhost', async () => {
    const shop = site('shop-race');
    await run('mv', [`${baseDir}/nginx.conf`, `${baseDir}/nginx.conf.away`]);
    try {
      await assert.rejects(
        websiteDeleteHandler.run({ host, layout: layout(), site: { id: shop.id, key: shop.key, generation: 2 } }, ctx),
        (error: Error) => error instanceof RetryableError && error.code === 'PROXY_NOT_READY',
      );
      assert.equal(existsSync(sitePaths(layout(), shop.key).vhost), true);
    } finally {
      await run('mv', [`${baseDir}/nginx.conf.away`, `${baseDir}/nginx.conf`]);
    }
  });
});
