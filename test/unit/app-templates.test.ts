/**
 * Application templates are data (templates/apps/<name>/): every folder loads and renders to a
 * valid app spec, a new folder is a new template with no code change, hostile values are
 * refused naming the field, and a broken template is caught by its file name.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appTemplates, loadAppTemplate, renderAppSpec } from '../../lib/app-templates.ts';
import { InputError } from '../../lib/errors.ts';

test('every folder of templates/apps is a template that renders to a valid app spec; static, container and node ship', () => {
  const templates = appTemplates();
  const folders = readdirSync(new URL('../../templates/apps/', import.meta.url), { withFileTypes: true }).filter((e) => e.isDirectory());
  assert.deepEqual(
    templates.map((t) => t.name),
    folders.map((f) => f.name).sort(),
  );
  for (const name of ['static', 'container', 'node'])
    assert.ok(
      templates.some((t) => t.name === name),
      name,
    );
  for (const template of templates) {
    const spec = renderAppSpec(template, { name: 'blog', image: 'registry.example.net/team/blog:1.2' });
    if (spec.container) assert.ok(spec.container.port > 0, template.name);
  }
  assert.equal(renderAppSpec(loadAppTemplate('static'), { name: 'blog' }).container, null);
  assert.equal(
    renderAppSpec(loadAppTemplate('container'), { name: 'blog', image: 'localhost/busybox:latest' }).container?.image,
    'localhost/busybox:latest',
  );
  // A template's own image, unless the app brings one.
  assert.equal(renderAppSpec(loadAppTemplate('node'), { name: 'blog' }).container?.image, 'docker.io/library/node:22-slim');
  assert.equal(renderAppSpec(loadAppTemplate('node'), { name: 'blog', image: 'localhost/node:22' }).container?.image, 'localhost/node:22');
});

test('adding a template is adding a folder: no code change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-app-templates-'));
  try {
    mkdirSync(join(dir, 'hugo'));
    writeFileSync(join(dir, 'hugo', 'template.json'), '{ "description": "A Hugo site, built elsewhere", "needs": [] }');
    writeFileSync(join(dir, 'hugo', 'app.json.mustache'), '{ "container": null, "static": ["/"] }');
    const [hugo] = appTemplates(`${dir}/`);
    assert.equal(hugo.name, 'hugo');
    assert.deepEqual(renderAppSpec(hugo, { name: 'docs' }), { container: null, static: ['/'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile or missing values are refused naming the field, before anything is rendered', () => {
  const container = loadAppTemplate('container');
  const refused = (values: { name: string; image?: string }, field: string, status = 400) =>
    assert.throws(
      () => renderAppSpec(container, values),
      (e: Error) => e instanceof InputError && e.field === field && e.status === status,
      JSON.stringify(values),
    );
  refused({ name: 'blog' }, 'body/image', 422);
  for (const image of ['busybox", "command": ["sh"', 'busybox\\u0022', '--privileged', 'busybox latest', '../etc/passwd', 'a\nb'])
    refused({ name: 'blog', image }, 'body/image');
  for (const name of ['Blog', 'blog"', '-blog', 'blog;rm', '../x', ''.padEnd(40, 'a')]) refused({ name, image: 'busybox' }, 'body/name');
  assert.throws(() => loadAppTemplate('../nginx'), /invalid app template name/);
});

test('a broken template is caught by its file, never served', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-app-templates-'));
  const make = (name: string, meta: string, source: string) => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'template.json'), meta);
    writeFileSync(join(dir, name, 'app.json.mustache'), source);
    return () => renderAppSpec(loadAppTemplate(name, `${dir}/`), { name: 'blog' });
  };
  const ok = '{ "description": "x", "needs": [] }';
  try {
    assert.throws(make('notjson', ok, '{ "container": null, "static": [ }'), /notjson\/app\.json\.mustache does not render to JSON/);
    assert.throws(make('extra', ok, '{ "container": null, "static": [], "privileged": true }'), /extra\/app\.json\.mustache/);
    assert.throws(make('badpath', ok, '{ "container": null, "static": ["/../etc/"] }'), /badpath\/app\.json\.mustache/);
    assert.throws(make('raw', ok, '{ "container": null, "static": ["{{{name}}}"] }'), /raw\/app\.json\.mustache uses an unescaped tag/);
    assert.throws(make('badmeta', '{ "description": "x", "needs": ["root"] }', '{}'), /badmeta\/template\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
