/**
 * How many times a database handler goes to its host: each exec is an SSH round trip, and the
 * bench's request → usable is mostly those (bench/databases.ts prints the handlers' share).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HBA_USERS_BEGIN, HBA_USERS_END } from '../../handlers/databases/hba.ts';
import { pgApplyDatabase, pgApplyUser } from '../../handlers/databases/postgresql.ts';
import type { Command, Executor } from '../../lib/exec/index.ts';
import type { DbServerRef } from '../../queues/databases/ops.ts';

const SERVER: DbServerRef = {
  name: 'pg1',
  engine: 'postgresql',
  host: { name: 'db1', address: '10.0.0.5', port: 22, user: 'root', hostKeySha256: 'x' } as never,
  port: 5432,
  cluster: 'main',
};
const HBA = '/etc/postgresql/15/main/pg_hba.conf';

/** Answers every psql with `stdout`; counts what goes to the host. */
function countingHost(stdout: string, hba = `local all up peer map=up\n${HBA_USERS_BEGIN}\n${HBA_USERS_END}\n`) {
  const calls = { run: 0, readFile: 0, putFile: 0, lock: 0, scripts: [] as string[] };
  const exec: Executor = {
    host: 'db1',
    async run(_cmd: Command, opts?: { stdin?: string | Buffer }) {
      calls.run++;
      calls.scripts.push(String(opts?.stdin ?? ''));
      return { exitCode: 0, stdout, stderr: '', durationMs: 1 };
    },
    runScript: async () => assert.fail('no script expected'),
    async putFile() {
      calls.putFile++;
      return { changed: true };
    },
    async readFile() {
      calls.readFile++;
      return Buffer.from(hba);
    },
    async withLock(_name, fn) {
      calls.lock++;
      return fn();
    },
    close: async () => {},
  };
  return { exec, calls };
}

test('database.apply on PostgreSQL: one psql session (the cluster, then \\connect to the database), one round trip', async () => {
  const { exec, calls } = countingHost('created:t\n');
  const done = await pgApplyDatabase(exec, SERVER, 'alice_shop', [{ user: 'alice_app', access: 'ro' }]);
  assert.deepEqual(done, { created: true, missing: [] });
  assert.equal(calls.run, 1);
  const [script] = calls.scripts;
  assert.ok(script.indexOf('CREATE DATABASE :"db"') < script.indexOf('\\connect :"db"'));
  assert.ok(script.indexOf('\\connect :"db"') < script.indexOf('REVOKE ALL ON SCHEMA public FROM PUBLIC'));
});

const VERIFIER = `SCRAM-SHA-256$4096:${'a'.repeat(22)}==$${'b'.repeat(43)}=:${'c'.repeat(43)}=`;

test('database.user.apply on PostgreSQL, no networks and no pg_hba.conf line naming the user: one psql, nothing else', async () => {
  const { exec, calls } = countingHost(`created:t\nhba:${HBA}\nhba-lines:0\n`);
  assert.equal(await pgApplyUser(exec, SERVER, 'alice_app', VERIFIER, []), true);
  assert.deepEqual(
    { run: calls.run, readFile: calls.readFile, lock: calls.lock, putFile: calls.putFile },
    { run: 1, readFile: 0, lock: 0, putFile: 0 },
  );
  assert.match(calls.scripts[0], /pg_hba_file_rules WHERE :'u' = ANY \(user_name\)/);
});

test('database.user.apply on PostgreSQL, no networks but a line naming the user: the file is read and the line goes', async () => {
  const hba = `local all up peer map=up\n${HBA_USERS_BEGIN}\nhostssl all "alice_app" 192.0.2.0/24 reject\n${HBA_USERS_END}\n`;
  const { exec, calls } = countingHost(`created:f\nhba:${HBA}\nhba-lines:1\n`, hba);
  await pgApplyUser(exec, SERVER, 'alice_app', VERIFIER, []);
  assert.deepEqual({ readFile: calls.readFile, lock: calls.lock, putFile: calls.putFile }, { readFile: 2, lock: 1, putFile: 1 });
});

test('database.user.apply on PostgreSQL, a network to add: under the lock, read again, written, reloaded', async () => {
  const { exec, calls } = countingHost(`created:t\nhba:${HBA}\nhba-lines:0\n`);
  const net = { text: '192.0.2.0/24', address: '192.0.2.0', prefix: 24, family: 4 } as never;
  await pgApplyUser(exec, SERVER, 'alice_app', VERIFIER, [net]);
  assert.deepEqual(
    { readFile: calls.readFile, lock: calls.lock, putFile: calls.putFile, run: calls.run },
    { readFile: 2, lock: 1, putFile: 1, run: 2 },
  );
});
