#!/usr/bin/env node
// The `up` command. It runs the client bundle (dist/cli/up.mjs, made by `npm run build:cli`,
// which `npm ci` runs) while none of the sources it was built from is newer; otherwise the
// TypeScript sources through tsx, so that an edit takes effect without a build.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';

// Node.js 22 and later keep V8's compiled code on disk: a start then compiles almost nothing.
module.enableCompileCache?.();

const root = new URL('../', import.meta.url);
const bundle = new URL('dist/cli/up.mjs', root);

function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const sources = readFileSync(new URL('dist/cli/up.sources', root), 'utf8').split('\n').filter(Boolean);
    return sources.every((source) => statSync(new URL(source, root)).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (bundleIsFresh()) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/bin.ts');
}
