import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SECRET_VARIABLES } from '../../lib/config.ts';
import { operations, selectOperations } from '../../queues/catalogue.ts';

/**
 * deploy/systemd as an admin installs it, checked by systemd's own tools on a fake root (no
 * running systemd needed): `systemd-analyze verify` must be silent, and `systemd-analyze
 * security` must rate every unit "OK" (≤ 4.0; the units shipped before scored 8.5–8.7).
 */
const DIR = new URL('../../deploy/systemd/', import.meta.url);
const UNITS = readdirSync(DIR).filter((f) => f.endsWith('.service'));
const POOLS = readdirSync(new URL('handlers/', DIR))
  .filter((f) => f.endsWith('.env'))
  .map((f) => f.replace(/\.env$/, ''));
const unitText = (file: string) => readFileSync(new URL(file, DIR), 'utf8');
const poolEnv = (pool: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(new URL(`handlers/${pool}.env`, DIR), 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
/** Every unit an admin enables: the three roles, and one handler instance per pool. */
const INSTANCES = [...UNITS.filter((u) => !u.includes('@')), ...POOLS.map((pool) => `up-handler@${pool}.service`)];

const analyze = (root: string, ...args: string[]) => spawnSync('systemd-analyze', [...args, `--root=${root}`], { encoding: 'utf8' });

describe('systemd units', () => {
  let root: string;
  before(() => {
    assert.equal(
      spawnSync('systemd-analyze', ['--version']).status,
      0,
      'systemd-analyze is installed (Debian package systemd; .ci/run installs it)',
    );
    root = mkdtempSync(join(tmpdir(), 'up-systemd-'));
    // The distribution's units (network-online.target, sysinit.target, …) the ours refer to.
    const distro = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((dir) => existsSync(join(dir, 'sysinit.target')))!;
    cpSync(distro, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const unit of UNITS) cpSync(new URL(unit, DIR), join(root, 'etc/systemd/system', unit));
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/up'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr/bin/up'), 0o755);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('systemd-analyze verify: every unit and every pool instance loads without a word', () => {
    for (const unit of INSTANCES) {
      const run = analyze(root, 'verify', unit);
      assert.equal(run.status, 0, `${unit}: ${run.stderr}`);
      // Unknown or misspelt keys are only warned about: any output is a failure here.
      assert.equal(`${run.stdout}${run.stderr}`.trim(), '', unit);
    }
  });

  test('systemd-analyze security: every unit is "OK" (exposure ≤ 4.0)', () => {
    for (const unit of INSTANCES) {
      const run = analyze(root, 'security', '--offline=true', unit);
      const match = /Overall exposure level for \S+: (\d+\.\d+) (\w+)/.exec(run.stdout);
      assert.ok(match, `${unit}: ${run.stdout}${run.stderr}`);
      const [, score, verdict] = match;
      assert.ok(
        Number(score) <= 4.0 && verdict === 'OK',
        `${unit} scores ${score} ${verdict}:\n${run.stdout
          .split('\n')
          .filter((l) => l.startsWith('✗'))
          .join('\n')}`,
      );
    }
  });

  test('an operation glob is not a unit name: pools are named instances instead', () => {
    // What the old unit documented (`systemctl enable --now 'up-handler@system.*'`).
    const run = analyze(root, 'verify', 'up-handler@system.*.service');
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /Invalid argument/);
    assert.doesNotMatch(unitText('up-handler@.service'), /up-handler@[^\s{]*\*/, 'no glob instance is suggested');
  });
});

test('every operation of the catalogue is consumed by a handler pool', () => {
  const consumed = new Set(POOLS.flatMap((pool) => selectOperations(poolEnv(pool).UP_HANDLER_OPS.split(' ')).map((op) => op.name)));
  assert.deepEqual(
    operations.filter((op) => !consumed.has(op.name)).map((op) => op.name),
    [],
  );
  // The instances the unit tells an admin to enable are exactly the pools shipped.
  const listed = /up-handler@\{([^}]+)\}\.service/.exec(unitText('up-handler@.service'))![1].split(',');
  assert.deepEqual(listed.sort(), [...POOLS].sort());
});

test('each unit has its own metrics port, on one machine none shared', () => {
  const ports = [
    ...UNITS.filter((u) => !u.includes('@')).map((u) => /^Environment=UP_METRICS_PORT=(\d+)$/m.exec(unitText(u))?.[1]),
    ...POOLS.map((pool) => poolEnv(pool).UP_METRICS_PORT),
  ];
  assert.ok(ports.every(Boolean), `every unit sets UP_METRICS_PORT: ${ports}`);
  assert.equal(new Set(ports).size, ports.length, `distinct: ${ports}`);
});

test('network-online.target is wanted wherever it is waited for', () => {
  for (const unit of UNITS) {
    const text = unitText(unit);
    if (/^After=.*network-online\.target/m.test(text)) assert.match(text, /^Wants=.*network-online\.target/m, unit);
  }
});

test('secrets are credentials read through *_FILE, never environment values', () => {
  for (const unit of UNITS) {
    const text = unitText(unit);
    for (const [, name, path] of text.matchAll(/^LoadCredential=([\w-]+):(\S+)$/gm)) {
      assert.match(path, /^\/etc\/up\/credentials\//, unit);
      assert.match(text, new RegExp(`^Environment=.*=%d/${name}\\b`, 'm'), `${unit}: credential ${name} is read by a *_FILE variable`);
    }
    for (const name of SECRET_VARIABLES) assert.doesNotMatch(text, new RegExp(`\\b${name}=`), `${unit} sets ${name}`);
  }
  const example = readFileSync(new URL('up.env.example', DIR), 'utf8');
  for (const name of SECRET_VARIABLES) assert.doesNotMatch(example, new RegExp(`^${name}=`, 'm'), `up.env.example sets ${name}`);
  assert.match(unitText('up-gateway.service'), /^LoadCredential=admin-token:/m);
  assert.match(unitText('up-handler@.service'), /^Environment=.*UP_SSH_KEY_FILE=%d\/ssh-key/m);
});
