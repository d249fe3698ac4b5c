import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { SECRET_VARIABLES } from '../../lib/config.ts';

/**
 * The Containerfile, parsed and linted (dockerfile-ast and dockerfile-utils, the parser and
 * validator of the VS Code Docker language server). Building it needs a registry this machine
 * cannot reach; test/integration/container-runtime.test.ts runs what it assembles instead.
 */
const TEXT = readFileSync(new URL('../../Containerfile', import.meta.url), 'utf8');
const dockerfile = DockerfileParser.parse(TEXT);
/** Each instruction as its keyword, its flags (`--from=dependencies`) and its arguments. */
const instructions = dockerfile.getInstructions().map((i) => {
  const flags = 'getFlags' in i ? (i as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] }).getFlags() : [];
  return {
    keyword: i.getKeyword(),
    flags: flags.map((f) => `--${f.getName()}${f.getValue() === null ? '' : `=${f.getValue()}`}`),
    args: i.getArgumentsContent() ?? '',
  };
});
/** The instructions of the last stage: what the image runs with. */
const final = instructions.slice(instructions.map((i) => i.keyword).lastIndexOf('FROM'));
const all = (keyword: string) => final.filter((i) => i.keyword === keyword);
const only = (keyword: string) => {
  const found = all(keyword);
  assert.equal(found.length, 1, `one ${keyword} in the final stage`);
  return [...found[0].flags, found[0].args].join(' ');
};

test('the linter finds nothing', () => {
  assert.deepEqual(
    validate(TEXT).map((d) => `${d.range.start.line + 1}: ${d.message}`),
    [],
  );
});

test('the linter really lints (so a pass means something)', () => {
  const bad = [
    'FROM node:24-slim\nHEALTHCHECK --interval=30 CMD true\n',
    'FROM node:24-slim\nENTRYPOINT ["up"]\nENTRYPOINT ["up"]\n',
    'FROM node:24-slim\nCOPY bin\n',
  ];
  for (const text of bad) assert.ok(validate(text).length > 0, text);
});

test('multi-stage on Node.js 24 slim: build tools in the first stage only', () => {
  assert.match(TEXT, /^ARG NODE_IMAGE=docker\.io\/library\/node:24-slim$/m);
  const froms = dockerfile.getFROMs();
  assert.equal(froms.length, 2);
  for (const from of froms) assert.equal(from.getImage(), '${NODE_IMAGE}');
  assert.ok(
    instructions.slice(0, instructions.indexOf(final[0])).some((i) => i.keyword === 'RUN' && /npm ci --omit=dev/.test(i.args)),
    'production dependencies only',
  );
  assert.ok(
    !final.some((i) => i.keyword === 'RUN' && /apt-get install|npm (ci|install)/.test(i.args)),
    'no compilers or npm installs in the image that runs',
  );
  assert.ok(final.some((i) => i.keyword === 'COPY' && i.flags.includes('--from=dependencies') && i.args.startsWith('/app/node_modules ')));
});

test('runs as a numeric non-root user (so Kubernetes runAsNonRoot can verify it)', () => {
  const user = only('USER');
  assert.match(user, /^[1-9]\d*:[1-9]\d*$/);
  assert.match(TEXT, new RegExp(`useradd --system --uid ${user.split(':')[0]} `));
  // Code is copied as root (no --chown): the service cannot rewrite itself.
  assert.ok(all('COPY').every((c) => !c.flags.some((f) => f.startsWith('--chown'))));
});

test('ENTRYPOINT up, serve by default, a HEALTHCHECK on the metrics port every role serves', () => {
  assert.equal(only('ENTRYPOINT'), '["up"]');
  assert.equal(only('CMD'), '["serve"]');
  const healthcheck = only('HEALTHCHECK');
  assert.match(healthcheck, /--interval=\d+s/);
  assert.match(healthcheck, /CMD \["node", "-e", ".*UP_METRICS_PORT.*\/healthz/);
  const env = all('ENV')
    .flatMap((e) => e.args.split(/\s+/))
    .filter((kv) => kv.includes('='));
  assert.ok(env.includes('UP_METRICS_PORT=9470') && env.includes('UP_METRICS_HOST=0.0.0.0'));
  assert.match(only('EXPOSE'), /^8470 9470$/);
});

test('no secret is baked in: no secret variable, ARG or credential in the file', () => {
  for (const name of SECRET_VARIABLES) assert.doesNotMatch(TEXT, new RegExp(`\\b${name}=`), name);
  for (const i of instructions.filter((i) => ['ENV', 'ARG'].includes(i.keyword))) {
    assert.doesNotMatch(i.args, /TOKEN|PASSWORD|SECRET|_KEY\b/i, `${i.keyword} ${i.args}`);
  }
  assert.doesNotMatch(TEXT, /:\/\/[^/\s:@]+:[^/\s@]+@/, 'no credentials in a URL');
  assert.ok(!instructions.some((i) => i.keyword === 'ADD'), 'COPY only, no ADD of URLs or archives');
});

test('the build context holds only what the image copies (.containerignore, and .dockerignore for Docker)', () => {
  const ignore = readFileSync(new URL('../../.containerignore', import.meta.url), 'utf8');
  assert.equal(readFileSync(new URL('../../.dockerignore', import.meta.url), 'utf8'), ignore);
  const lines = ignore.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '*', 'everything is excluded first');
  const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
  const copied = all('COPY')
    .filter((c) => c.flags.length === 0)
    .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
  assert.deepEqual([...copied].sort(), [...allowed].sort(), 'what is allowed is what is copied');
  for (const secretish of ['**/.env*', '**/*.pem', '**/*.key']) assert.ok(lines.includes(secretish), secretish);
});

test('every top-level entry of the repository is either in the image or left out on purpose', () => {
  const copied = new Set(
    all('COPY')
      .filter((c) => c.flags.length === 0)
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1)),
  );
  const leftOut = new Set([
    '.ci',
    '.dependency-cruiser.cjs',
    'biome.json',
    '.gitignore',
    '.containerignore',
    '.dockerignore',
    'Containerfile',
    'README.md',
    'bench',
    'deploy',
    'docs',
    'redocly.yaml',
    'scripts',
    'test',
  ]);
  const tracked = execFileSync('git', ['ls-files'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8' });
  const entries = new Set(
    tracked
      .split('\n')
      .filter(Boolean)
      .map((path) => path.split('/')[0]),
  );
  for (const entry of entries)
    assert.ok(
      copied.has(entry) || leftOut.has(entry),
      `${entry}: copy it into the image (Containerfile, .containerignore) or list it here as left out`,
    );
});
