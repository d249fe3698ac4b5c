/**
 * The databases domain's walls against SQL injection and its verifiers, without a server:
 * names pass a whitelist before any SQL is written, MariaDB GRANT escapes its wildcard, and
 * the verifiers are the ones the servers compute themselves.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync, createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { generatePassword, mysqlNativeHash, scramVerifier } from '../../gateway/databases/passwords.ts';
import { checkedName, psqlSet, quoteGrantSchema, quoteIdent, quoteText } from '../../handlers/databases/sql.ts';
import { VERIFIER_PATTERNS } from '../../queues/databases/ops.ts';

const HOSTILE = ['a"b', "a'b", 'a`b', 'a\\b', 'a;b', 'a b', 'A', '', '1a', 'a\nb', 'a\u0000b', 'é', 'a-b', 'a.b', 'a$b', 'x'.repeat(81)];

test('hostile names never reach SQL: every quoting helper refuses them', () => {
  for (const name of HOSTILE) {
    assert.throws(() => checkedName(name, 'postgresql', 'user'), /not a valid/, JSON.stringify(name));
    assert.throws(() => checkedName(name, 'mariadb', 'database'), /not a valid/, JSON.stringify(name));
    assert.throws(() => quoteIdent(name), /refused/, JSON.stringify(name));
  }
  for (const value of ["x'y", 'x\\y', 'x\ny']) {
    assert.throws(() => quoteText(value), /refused/);
    assert.throws(() => psqlSet('v', value), /refused/);
  }
});

test('names longer than the engine keeps whole are refused (PostgreSQL databases: 57, for the -owner role)', () => {
  assert.equal(checkedName('a'.repeat(57), 'postgresql', 'database'), 'a'.repeat(57));
  assert.throws(() => checkedName('a'.repeat(58), 'postgresql', 'database'));
  assert.equal(checkedName('a'.repeat(64), 'mariadb', 'database'), 'a'.repeat(64));
  assert.throws(() => checkedName('a'.repeat(65), 'mariadb', 'database'));
});

test("MariaDB GRANT names the schema with '_' escaped: no wildcard grants another tenant's schema", () => {
  assert.equal(quoteGrantSchema('alice_shop'), '`alice\\_shop`');
  assert.equal(quoteIdent('alice_shop'), '`alice_shop`');
});

test('mysql_native_password: the hash MariaDB computes for PASSWORD(...)', () => {
  // SELECT PASSWORD('password') on MariaDB 10.11.
  assert.equal(mysqlNativeHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  assert.match(mysqlNativeHash('x'), new RegExp(VERIFIER_PATTERNS.mariadb));
});

test('SCRAM-SHA-256: RFC 5802 keys from PBKDF2 (4096 iterations, the salt it states), in the form PostgreSQL stores', () => {
  const salt = Buffer.alloc(16, 7);
  const verifier = scramVerifier('pencil', salt);
  assert.match(verifier, new RegExp(VERIFIER_PATTERNS.postgresql));
  const salted = pbkdf2Sync('pencil', salt, 4096, 32, 'sha256');
  const stored = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
  const server = createHmac('sha256', salted).update('Server Key').digest('base64');
  assert.equal(verifier, `SCRAM-SHA-256$4096:${salt.toString('base64')}$${stored}:${server}`);
  assert.notEqual(scramVerifier('pencil'), scramVerifier('pencil'), 'a fresh salt each time');
});

test('generated passwords: 24 characters without look-alikes, all different', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    assert.match(p, /^[A-HJ-NP-Za-km-z2-9]{24}$/);
    seen.add(p);
  }
  assert.equal(seen.size, 200);
});
