/**
 * The django template built for real, with no registry and no network: on a lab host of its own
 * podman, the base image is made from this machine's python3, django and gunicorn, the template's
 * Containerfile builds the fixture project (test/fixtures/django-app) as the apps handler will,
 * and the checks a person would make: gunicorn answers the page with the source's VERSION (v1,
 * then a rebuilt v2), the template's collect (collectstatic, run in a container of the image) puts the static file in the spec's staticDir,
 * and the spec's healthcheck passes against the running app and fails where nothing listens.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppSpec, loadAppTemplate, renderAppSpec, renderContainerfile } from '../../lib/app-templates.ts';
import { sh } from '../../lib/exec/index.ts';
import { render } from '../../lib/render.ts';
import { buildDjangoBaseImage, DJANGO_BASE_IMAGE } from '../helpers/django-image.ts';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { onHost, PODMAN_PRIVATE_DIRS, removeContainers } from '../helpers/podman-lab.ts';

const FIXTURE = new URL('../fixtures/django-app/', import.meta.url);
const APP = 'blog';
const PORT = 18_081;

/** Runs `check` until it stops throwing; past the deadline its last failure is the test's. */
async function retrying<T>(check: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

describe('the django template, built offline on real podman', { timeout: 600_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  const django = loadAppTemplate('django');
  const run = (command: { text: string }, timeoutMs?: number) => onHost(host, command.text, timeoutMs);

  /** The fixture with this VERSION as a build context, built by the template's Containerfile as the apps handler will. */
  async function build(version: string): Promise<string> {
    const context = join(host.dir, `context-${version}`);
    cpSync(FIXTURE, context, { recursive: true });
    writeFileSync(join(context, 'VERSION'), `${version}\n`);
    // The Containerfile stays out of the context (it is the platform's, not the app's source).
    const containerfile = join(host.dir, `Containerfile-${version}`);
    writeFileSync(containerfile, renderContainerfile(django, { name: APP })!);
    const image = `localhost/up-${APP}-djtenant:${version}`;
    await run(sh`podman build --network none --pull=never -f ${containerfile} -t ${image} ${context} >/dev/null`, 300_000);
    return image;
  }

  /** `podman run` of the rendered spec, as the containers domain will: its env, its port, the image's command. */
  async function start(spec: AppSpec): Promise<void> {
    const container = spec.container!;
    const env = Object.entries(container.env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
    await run(sh`podman run -d --name ${`${APP}-djtenant`} ${env} -p ${`${host.address}:${PORT}:${container.port}`} ${container.image}`);
  }

  const page = () =>
    retrying(async () => {
      const res = await fetch(`http://${host.address}:${PORT}/`);
      assert.equal(res.status, 200);
      return res.text();
    }, 30_000);

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-dj', subnet: '10.77.81', bridge: 'uplab81', privateDirs: PODMAN_PRIVATE_DIRS });
    [host] = lab.hosts;
    mkdirSync(host.dir, { recursive: true });
    // What container.host.setup writes (runc, ulimits under the host's hard limits), without the stack.
    const limits = await onHost(host, 'cat /proc/self/limits');
    const hard = (row: string, cap: number) => {
      const value = new RegExp(`^${row}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1] ?? '0';
      return value === 'unlimited' ? cap : Math.min(cap, Number(value));
    };
    const conf = join(host.dir, 'containers.conf');
    writeFileSync(
      conf,
      render('config', 'containers/containers.conf.mustache', {
        nofile: hard('Max open files', 20_000),
        nproc: hard('Max processes', 32_768),
      }),
    );
    await run(sh`install -m 0644 ${conf} /etc/containers/containers.conf`);
  });

  after(async () => {
    if (host) {
      await removeContainers(host);
      await onHost(host, 'podman rmi -af >/dev/null 2>&1; true').catch(() => undefined);
    }
    await lab?.down();
  });

  test('the base image: python3, django and gunicorn with no registry', async () => {
    const started = Date.now();
    assert.equal(await buildDjangoBaseImage(host), DJANGO_BASE_IMAGE);
    const size = Number((await onHost(host, `podman image inspect --format '{{.Size}}' ${DJANGO_BASE_IMAGE}`)).trim());
    console.log(`# base image: ${(size / 1e6).toFixed(1)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const versions = await run(
      sh`podman run --rm --network none ${DJANGO_BASE_IMAGE} python3 -c ${'import django, gunicorn; print(django.get_version(), gunicorn.__version__)'}`,
    );
    assert.match(versions.trim(), /^\d+\.\d+\.\d+ \d+\.\d+\.\d+$/);
    assert.match(await run(sh`podman run --rm --network none ${DJANGO_BASE_IMAGE} sh -c ${'echo $0'}`), /sh/);
  });

  test('the template builds the source offline; gunicorn serves the page, the static files are in staticDir, the healthcheck passes', async () => {
    const started = Date.now();
    const image = await build('v1');
    console.log(`# app image built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const spec = renderAppSpec(django, { name: APP, image });
    assert.equal(spec.container?.image, image);

    await start(spec);
    assert.match(await page(), /django fixture v1/);

    // The build ran nothing; the template's collect (collectstatic) fills staticDir, in a container of the image.
    const staticDir = spec.staticDir!;
    assert.equal(staticDir, '/app/staticfiles');
    assert.equal((await run(sh`podman run --rm --network none ${image} sh -c ${`ls ${staticDir} 2>/dev/null | wc -l`}`)).trim(), '0');
    const collector = `${APP}-collect`;
    await run(sh`podman run --name ${collector} --network none ${image} ${spec.collect!}`);
    const out = join(host.dir, 'collected');
    await run(sh`rm -rf ${out} && podman cp ${`${collector}:${staticDir}/.`} ${out} && podman rm ${collector} >/dev/null`);
    assert.deepEqual(readdirSync(out), ['up.css']);
    assert.equal(readFileSync(join(out, 'up.css'), 'utf8'), readFileSync(new URL('static/up.css', FIXTURE), 'utf8'));
    // Django does not serve them itself (DEBUG off): that is nginx's job.
    assert.equal((await fetch(`http://${host.address}:${PORT}/static/up.css`)).status, 404);

    // The spec's healthcheck, with the image's own python3 (no curl): it passes against gunicorn, fails where nothing listens.
    const healthcheck = spec.container!.healthcheck!.command;
    await retrying(() => run(sh`podman exec ${`${APP}-djtenant`} ${healthcheck}`), 15_000);
    await assert.rejects(run(sh`podman run --rm --network none ${image} ${healthcheck}`));
    // Two gunicorn workers under the master.
    const processes = await run(sh`podman top ${`${APP}-djtenant`} args`);
    assert.equal(processes.split('\n').filter((line) => line.includes('gunicorn')).length, 3, processes);
  });

  test('a new version of the source is a new build: v2 answers once it replaces v1', async () => {
    const image = await build('v2');
    await run(sh`podman rm -f -t 0 ${`${APP}-djtenant`} >/dev/null`);
    await start(renderAppSpec(django, { name: APP, image }));
    assert.match(await page(), /django fixture v2/);
  });
});
