/**
 * An app's health, end to end on real nginx and podman (one lab host, health rounds every
 * second): the app is one checked resource, its replicas are not checks of their own; a replica
 * stopped behind our back is restarted by the app's repair while nginx keeps answering from the
 * other one; an app that cannot be repaired raises exactly one alarm (not one per replica, not
 * its site's 502 as well), and the operator's retry of the repair clears it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { appLab, type AppLab, type Json } from '../helpers/app-lab.ts';
import { eventually } from '../helpers/eventually.ts';
import { curlSite, eventually as answersWithin } from '../helpers/lab-nginx.ts';
import { onHost } from '../helpers/podman-lab.ts';
import { runUp } from '../helpers/processes.ts';

const WILDCARD = 'p1.ahc.test';
const TENANT = 'ahcalice';

describe("an app's health: checked and repaired as one resource, on real nginx and podman", { timeout: 600_000 }, () => {
  let lab: AppLab;
  let image = '';
  const alice = (...args: Parameters<ReturnType<AppLab['api']>>) => lab.api(TENANT)(...args);
  const admin = (...args: Parameters<ReturnType<AppLab['api']>>) => lab.api('admin')(...args);
  const appSite = () =>
    curlSite(`web-${TENANT}.${WILDCARD}`, lab.host.address, lab.port).catch((error: Error) => ({ status: 0, body: error.message }));
  const health = async (type: string, who = TENANT) =>
    (await lab.api(who)('GET', `/v1/health?type=${type}&history=true`)).body.items as Json[];
  const appHealth = async () => (await health('app'))[0];
  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
    eventually(what, probe, {
      timeoutMs,
      explain: async () =>
        `health: ${JSON.stringify((await health('app', 'admin')).map((h) => [h.resource.key, h.state, h.problems]))}; alarms: ${JSON.stringify((await alice('GET', '/v1/alarms')).body.items)}; row: ${JSON.stringify(await lab.stack.database!.knex('health').where({ resource_type: 'app' }).select('state', 'failures', 'repair_job_id', 'checked_at'))}; repairs: ${JSON.stringify(((await admin('GET', '/v1/jobs?op=health.repair.app')).body.items as Json[]).map((j) => [j.id, j.status, j.finishedAt, j.error?.message?.slice(0, 80)]))}`,
    });
  /** The states since the transition at `mark`, oldest first, led by that one. */
  const statesSince = (entry: Json, mark: string) =>
    [...entry.history]
      .reverse()
      .filter((h: Json) => h.at >= mark)
      .map((h: Json) => h.state);
  const replicaKeys = ['web-r1-1', 'web-r1-2'].map((name) => `${name}-${TENANT}`);

  before(async () => {
    lab = await appLab({
      prefix: 'up-ahc',
      subnet: '10.77.84',
      bridge: 'uplab84',
      tenants: [TENANT, 'ahcbob'],
      wildcard: WILDCARD,
      env: { UP_HEALTH_INTERVAL_MS: '1000' },
    });
    image = await lab.webImage('v1', 'v1');
  });

  after(async () => {
    await lab?.down();
  });

  test('the app is one healthy resource; its replicas are not container checks of their own', async () => {
    const made = await alice('POST', '/v1/apps', { name: 'web', template: 'container', proxy: 'p1', image, replicas: 2 });
    assert.equal(made.status, 202, JSON.stringify(made.body));
    const done = await lab.deployed(TENANT, 'web');
    assert.equal(done.deploy.state, 'succeeded', JSON.stringify(done.deploy));
    assert.equal((await answersWithin(appSite, (r) => r.status === 200, 30_000)).body.trim(), 'v1');

    const entry = await until('the app healthy', async () => (await appHealth())?.state === 'healthy' && appHealth());
    assert.equal(entry.resource.key, `web-${TENANT}@${lab.host.name}`);
    assert.deepEqual(entry.problems, []);
    await until('the site healthy', async () => (await health('website'))[0]?.state === 'healthy');
    assert.deepEqual(await health('container', 'admin'), [], 'no container check of a replica');
  });

  test('a replica stopped behind our back is restarted by the app repair; nginx answers from the other meanwhile', async () => {
    const mark = (await appHealth()).history[0].at;
    const seen: number[] = [];
    let looking = true;
    const load = (async () => {
      while (looking) {
        seen.push((await appSite()).status);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await onHost(lab.host, `podman stop -t 0 ${replicaKeys[0]} >/dev/null`);
      await until(
        'the app healthy again',
        async () => {
          const entry = await appHealth();
          return entry?.state === 'healthy' && entry.history.some((h: Json) => h.at > mark) && entry;
        },
        90_000,
      );
    } finally {
      looking = false;
      await load;
    }
    const entry = await appHealth();
    assert.deepEqual(statesSince(entry, mark), ['healthy', 'degraded', 'repairing', 'healthy']);
    // Seen down (exited, or still stopping), or (a check that looked while podman was stopping it) running but not answering.
    assert.match(
      entry.history[2].note,
      new RegExp(`${replicaKeys[0]} on ${lab.host.name} (is \\w+ \\(exit code \\d+\\)|\\(\\S+\\) does not answer HTTP)`),
    );
    assert.equal((await onHost(lab.host, `podman inspect --format '{{.State.Status}}' ${replicaKeys[0]}`)).trim(), 'running');

    // Alice sees her app's repair and what it did to each replica.
    const repairs = (await alice('GET', '/v1/jobs?op=health.repair.app')).body.items as Json[];
    assert.equal(repairs.length, 1, 'one repair for one episode');
    // The replica may serve (and a check see it healthy) before its repair has waited out its settling time.
    const repair = await lab.settled(repairs[0], TENANT);
    assert.equal(repair.status, 'succeeded', JSON.stringify(repair.error));
    assert.deepEqual(
      repair.result.replicas.map((r: Json) => [r.key, r.repair]),
      [
        [replicaKeys[0], 'restarted'],
        [replicaKeys[1], 'none'],
      ],
      JSON.stringify(repair.result.replicas),
    );
    // nginx went on to the replica that served: no 502, and at most the one request netavark's rule
    // rewrite may leave unanswered when a container stops (see apps.test.ts).
    assert.ok(seen.length > 10, `only ${seen.length} requests`);
    assert.deepEqual(
      seen.filter((s) => s !== 200 && s !== 0),
      [],
      'every answer while a replica was down was 200',
    );
    assert.ok(seen.filter((s) => s === 0).length <= 1, seen.join(' '));
    // Alice's alarms: her app, its site and its replicas (the lab host's own, under load, are the admin's).
    assert.deepEqual((await alice('GET', '/v1/alarms?status=all')).body.items, [], 'repaired in time: no alarm');
  });

  test('an app that cannot be repaired raises exactly one alarm; a retry of its repair clears it', async () => {
    const mark = (await appHealth()).history[0].at;
    // Both replicas gone and their image too: a restart finds nothing, a recreate has nothing to run.
    await onHost(lab.host, `podman rm -f -t 0 ${replicaKeys.join(' ')} >/dev/null; podman rmi -f ${image} >/dev/null`);
    const alarm = await until('the alarm', async () => (await alice('GET', '/v1/alarms')).body.items[0] as Json | undefined, 90_000);
    assert.equal(alarm.resource.type, 'app');
    assert.equal(alarm.resource.key, `web-${TENANT}@${lab.host.name}`);
    assert.equal(alarm.cause, 'container-missing');
    assert.match(alarm.message, /repair job \S+ failed: .*`up jobs retry \S+` once the cause is gone$/);
    assert.deepEqual(statesSince(await appHealth(), mark), ['healthy', 'degraded', 'repairing', 'failed']);
    assert.equal((await appSite()).status, 502, 'nothing serves the site');

    // More rounds: still one alarm, counted; the site's 502 is the app's, so the site raises none.
    await until('more failing checks', async () => (await alice('GET', '/v1/alarms')).body.items[0].count >= alarm.count + 2);
    const site = (await health('website'))[0];
    assert.notEqual(site.state, 'failed', JSON.stringify(site));
    assert.match(site.problems.map((p: Json) => p.cause).join(' '), /app-down/);
    assert.deepEqual(
      ((await alice('GET', '/v1/alarms?status=all')).body.items as Json[]).map((a) => [a.resource.type, a.cause]),
      [['app', 'container-missing']],
      'one alarm: not one per replica, not the site as well',
    );
    assert.equal((await admin('GET', '/v1/jobs?op=health.repair.website')).body.items.length, 0, 'the site is not repaired for it');

    // The operator brings the image back and runs the repair again, as the alarm says.
    const repair = ((await alice('GET', '/v1/jobs?op=health.repair.app')).body.items as Json[])[0];
    assert.equal(repair.status, 'failed');
    await lab.webImage('v1', 'v1');
    // Alice may not start a repair herself (403: the platform's repairs are an admin's to run again).
    const refused = await runUp(['jobs', 'retry', repair.id], lab.env(TENANT));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /403 health\.repair\.app jobs are started by an admin/);
    const retried = await runUp(['jobs', 'retry', repair.id, '--wait', '--json'], {
      UP_URL: lab.stack.url!,
      UP_TOKEN: lab.stack.adminToken!,
      UP_LOG_LEVEL: 'silent',
    });
    assert.equal(retried.code, 0, retried.stderr + retried.stdout);
    await until('the cleared alarm', async () => (await alice('GET', '/v1/alarms')).body.items.length === 0, 90_000);
    assert.equal((await appHealth()).state, 'healthy');
    assert.equal((await answersWithin(appSite, (r) => r.status === 200, 30_000)).body.trim(), 'v1');
  });

  test("another tenant sees none of the app's health, alarms or repairs", async () => {
    const bob = lab.api('ahcbob');
    assert.ok((await health('app', 'admin')).length === 1, 'the admin sees the app');
    assert.deepEqual((await bob('GET', '/v1/health?type=app')).body.items, []);
    assert.deepEqual((await bob('GET', '/v1/alarms?status=all')).body.items, []);
    assert.deepEqual((await bob('GET', '/v1/jobs?op=health.repair.app')).body.items, []);
    const repair = ((await alice('GET', '/v1/jobs?op=health.repair.app')).body.items as Json[])[0];
    assert.equal((await bob('GET', `/v1/jobs/${repair.id}`)).status, 404);
    assert.equal((await bob('POST', `/v1/jobs/${repair.id}/retry`)).status, 404);
  });
});
