import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { eventually } from '../helpers/eventually.ts';

/**
 * What the Containerfile assembles, run the way the image runs it (no registry is reachable
 * here to build the image itself): its COPY list and `npm ci --omit=dev` into a fresh
 * directory, `up serve` (ENTRYPOINT + CMD) with the image's ENV as an unprivileged user, and the
 * HEALTHCHECK command run as written. A file the image forgets to copy, or a dev dependency the
 * code needs at run time, fails here.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NOBODY = 65534;

function imageRecipe() {
  const instructions = DockerfileParser.parse(readFileSync(join(ROOT, 'Containerfile'), 'utf8')).getInstructions();
  const final = instructions.slice(instructions.map((i) => i.getKeyword()).lastIndexOf('FROM'));
  const args = (keyword: string) => final.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');
  const hasFlags = (i: (typeof final)[number]) => 'getFlags' in i && (i as unknown as { getFlags(): unknown[] }).getFlags().length > 0;
  return {
    copies: final
      .filter((i) => i.getKeyword() === 'COPY' && !hasFlags(i))
      .flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1)),
    env: Object.fromEntries(
      args('ENV')
        .flatMap((a) => a.split(/\s+/))
        .filter((kv) => kv.includes('='))
        .map((kv) => kv.split('=') as [string, string]),
    ),
    command: [...(JSON.parse(args('ENTRYPOINT')[0]) as string[]), ...(JSON.parse(args('CMD')[0]) as string[])],
    healthcheck: JSON.parse(args('HEALTHCHECK')[0].replace(/^CMD\s+/, '')) as string[],
  };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

test('the image as assembled: production dependencies only, up serve as an unprivileged user, its HEALTHCHECK passes', async () => {
  const recipe = imageRecipe();
  const dir = mkdtempSync(join(tmpdir(), 'up-image-'));
  chmodSync(dir, 0o755);
  const app = join(dir, 'app');
  const data = join(dir, 'data');
  let serve: ReturnType<typeof spawn> | null = null;
  try {
    mkdirSync(app);
    for (const source of recipe.copies)
      cpSync(join(ROOT, source), join(app, source), { recursive: true, filter: (path) => !path.endsWith('.test.ts') });
    // The dependencies stage, with the npm of the Node.js that runs this test.
    const npm = join(dirname(realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim())), 'npm-cli.js');
    const install = spawnSync(
      process.execPath,
      [npm, 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: app,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    assert.equal(install.status, 0, install.stderr);
    const rebuild = spawnSync(process.execPath, [npm, 'rebuild', 'ssh2', 'cpu-features'], { cwd: app, encoding: 'utf8', timeout: 240_000 });
    assert.equal(rebuild.status, 0, rebuild.stderr);
    assert.doesNotMatch(install.stderr, /EBADENGINE/);
    mkdirSync(data, { mode: 0o700 });
    chownSync(data, NOBODY, NOBODY);

    const metricsPort = await freePort();
    const env = {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: '/nonexistent',
      ...recipe.env,
      UP_DATA_DIR: data,
      // Loopback here: the image listens on every address of its own network namespace.
      UP_HTTP_HOST: '127.0.0.1',
      UP_HTTP_PORT: '0',
      UP_METRICS_HOST: '127.0.0.1',
      UP_METRICS_PORT: String(metricsPort),
      UP_LOG_LEVEL: 'info',
    };
    const [entry, ...args] = recipe.command;
    assert.equal(entry, 'up');
    let output = '';
    serve = spawn(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, join(app, 'bin/up.js'), ...args],
      { cwd: data, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    serve.stdout!.on('data', (c) => (output += c));
    serve.stderr!.on('data', (c) => (output += c));
    await eventually('up serve listening', async () => output.includes('gateway listening') || serve!.exitCode !== null, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    assert.equal(serve.exitCode, null, output);

    const [command, ...healthArgs] = recipe.healthcheck;
    assert.equal(command, 'node');
    const healthy = spawnSync(process.execPath, healthArgs, { env, encoding: 'utf8' });
    assert.equal(healthy.status, 0, `HEALTHCHECK while serving: ${healthy.stderr}`);
    assert.doesNotMatch(output, /EACCES|EROFS/, 'it writes nowhere it may not');

    serve.kill('SIGTERM');
    await eventually('up serve stopped', async () => serve!.exitCode !== null || serve!.signalCode !== null, { timeoutMs: 30_000 });
    const down = spawnSync(process.execPath, healthArgs, { env, encoding: 'utf8' });
    assert.equal(down.status, 1, 'HEALTHCHECK fails once the process is gone');
  } finally {
    if (serve && serve.exitCode === null) serve.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
