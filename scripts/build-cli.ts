import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * `npm run build:cli`: the `up` client as one file with its dependencies (yargs, yaml, read),
 * in a package of its own that needs nothing else: `npm pack dist/cli` gives a tarball a
 * tenant installs with `npm i -g`. The server is not in it: role commands load its sources
 * through tsx when the bundle runs from a server installation (bin/up.js), and say they
 * cannot otherwise. Also lists the sources it was built from, so that bin/up.js uses it only
 * while none of them is newer.
 */
export async function buildCli(outdir = join(ROOT, 'dist/cli')): Promise<{ file: string; inputs: string[] }> {
  const file = join(outdir, 'up.mjs');
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { up: join(ROOT, 'cli/bin.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    // Each command module and the YAML writer in a chunk of its own, read only when used; all
    // beside up.mjs, so that UP_SERVER_PATH is relative to every one of them.
    splitting: true,
    chunkNames: 'up-[name]-[hash]',
    minify: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['tsx', 'tsx/*'],
    define: { UP_SERVER_PATH: JSON.stringify(relative(outdir, join(ROOT, 'cli/server.ts'))) },
    // CommonJS dependencies bundled into an ES module still call require() for node builtins.
    banner: {
      js: "#!/usr/bin/env node\nimport * as upModule from 'node:module';\nupModule.enableCompileCache?.();\nconst require = upModule.createRequire(import.meta.url);",
    },
    metafile: true,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs).map((input) => relative(ROOT, join(process.cwd(), input)));
  writeFileSync(join(outdir, 'up.sources'), `${inputs.filter((i) => !i.startsWith('node_modules/')).join('\n')}\n`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(
    join(outdir, 'package.json'),
    `${JSON.stringify(
      {
        name: 'up-cli',
        version: pkg.version,
        description: 'The `up` command-line client (talks to an up gateway; the server is not included).',
        type: 'module',
        license: pkg.license,
        engines: pkg.engines,
        bin: { up: 'up.mjs' },
        files: ['*.mjs'],
      },
      null,
      2,
    )}\n`,
  );
  copyFileSync(join(ROOT, 'cli/README.md'), join(outdir, 'README.md'));
  return { file, inputs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { file, inputs } = await buildCli(process.argv[2]);
  process.stdout.write(`wrote ${relative(process.cwd(), file)} from ${inputs.length} modules\n`);
}
