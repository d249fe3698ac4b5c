/**
 * The "done": `up apps create blog --template django` then `up apps deploy blog ./src`
 * gives a Django site answering through nginx at its temporary subdomain. Real nginx and podman
 * on a lab host; the django template's base image made from Debian's python3-django and
 * gunicorn (no registry, no network at build time). The pages come from gunicorn in the app's
 * replica, the static files from nginx; a second version replaces the first; a build that fails
 * leaves the serving version and says why.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { appLab, type AppLab } from '../helpers/app-lab.ts';
import { buildDjangoBaseImage } from '../helpers/django-image.ts';
import { curlSite, eventually } from '../helpers/lab-nginx.ts';
import { onHost } from '../helpers/podman-lab.ts';
import { runUp } from '../helpers/processes.ts';

const WILDCARD = 'p1.django.test';
const FIXTURE = fileURLToPath(new URL('../fixtures/django-app/', import.meta.url));

describe('a Django app from its template, deployed from source', { timeout: 600_000 }, () => {
  let lab: AppLab;
  let work: string;
  /** A request through nginx; one that got no answer in time is status 0 (see apps.test.ts on netavark's rule rewrites). */
  const blog = (path = '/', extra: string[] = []) =>
    curlSite(`blog-djalice.${WILDCARD}`, lab.host.address, lab.port, path, extra).catch((error: Error) => ({
      status: 0,
      body: error.message,
    }));

  /** The fixture project at a version (a copy: the fixture stays as it is). */
  function source(version: string, edit?: (dir: string) => void): string {
    const dir = join(work, version);
    cpSync(FIXTURE, dir, { recursive: true });
    writeFileSync(join(dir, 'VERSION'), `${version}\n`);
    edit?.(dir);
    return dir;
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'up-django-'));
    lab = await appLab({ prefix: 'up-adj', subnet: '10.77.83', bridge: 'uplab83', tenants: ['djalice', 'djbob'], wildcard: WILDCARD });
    await buildDjangoBaseImage(lab.host);
  });

  after(async () => {
    await lab?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('up apps create --template django, then up apps deploy: gunicorn answers the pages through nginx, nginx the static files', async () => {
    const env = lab.env('djalice');
    const created = await runUp(['apps', 'create', 'blog', '--template', 'django', '--proxy', 'p1'], env);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    assert.match(created.stdout, new RegExp(`http://blog-djalice\\.${WILDCARD.replace(/\./g, '\\.')}/`));
    // Before the first deploy, the route has no replica to go to.
    assert.equal((await eventually(blog, (r) => r.status === 502, 30_000)).status, 502);

    const deployed = await runUp(['apps', 'deploy', 'blog', source('v1')], env);
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    assert.match(deployed.stderr, /blog: building[\s\S]*blog: starting[\s\S]*blog: succeeded/);
    // Done means served: the page by the new replica through every proxy, the static files from each one's disk.
    const page = await blog();
    assert.match(page.body, /django fixture v1/);

    // The static file is the project's, collected at build time and served by nginx from the document root.
    const css = await blog('/static/up.css', ['-D', '-']);
    assert.equal(css.status, 200);
    assert.ok(css.body.includes((await import('node:fs')).readFileSync(join(FIXTURE, 'static/up.css'), 'utf8').trim()));
    // A file nginx serves from disk carries its modification time; Django's page does not.
    assert.match(css.body, /^last-modified: /im);
    const log = await onHost(lab.host, `cat ${lab.nginx[0].dir}/logs/blog-djalice.access.log`);
    assert.match(log, /GET \/static\/up\.css HTTP\/1\.1" 200/);
    const root = await onHost(lab.host, `ls ${lab.nginx[0].dir}/www/blog-djalice/static`);
    assert.match(root, /up\.css/);
    // And the page itself from Django in the tenant's replica (nginx proxies it: no file time).
    const dynamic = await blog('/', ['-D', '-']);
    assert.doesNotMatch(dynamic.body, /^last-modified: /im);
    assert.match(await onHost(lab.host, "podman ps --no-trunc --format '{{.Names}} {{.Command}}'"), /blog-r1-1-djalice .*gunicorn/);

    const shown = await runUp(['apps', 'show', 'blog', '-o', 'json'], env);
    const app = JSON.parse(shown.stdout);
    assert.equal(app.deploy.state, 'succeeded');
    assert.match(app.image, /^localhost\/up-app-blog-djalice:[0-9a-f]{16}$/);
    assert.match(app.deploy.log, /collectstatic|static file/i);
  });

  test('a second version replaces the first; one that fails to build leaves it serving, with the log that says why', async () => {
    const env = lab.env('djalice');
    const second = await runUp(['apps', 'deploy', 'blog', source('v2')], env);
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.match((await blog()).body, /django fixture v2/);

    const broken = await runUp(
      ['apps', 'deploy', 'blog', source('v3', (dir) => writeFileSync(join(dir, 'app/settings.py'), 'def broken(:\n'))],
      env,
    );
    assert.equal(broken.code, 1, broken.stderr + broken.stdout);
    const shown = JSON.parse((await runUp(['apps', 'show', 'blog', '-o', 'json'], env)).stdout);
    assert.equal(shown.deploy.state, 'failed');
    // The project is imported first by collectstatic, after the build: that is where it fails.
    assert.match(shown.deploy.error, /collecting the static files failed/);
    assert.match(shown.deploy.error, /SyntaxError/, shown.deploy.error.slice(-600));
    assert.match((await eventually(blog, (r) => r.status === 200, 15_000)).body, /django fixture v2/);
  });

  test('another tenant cannot deploy to the app or read it', async () => {
    const env = lab.env('djbob');
    const theirs = await runUp(['apps', 'deploy', 'blog', source('bob')], env);
    assert.notEqual(theirs.code, 0);
    assert.match(theirs.stderr, /not found/i);
    assert.equal((await lab.api('djbob')('GET', '/v1/apps/blog')).status, 404);
  });
});
