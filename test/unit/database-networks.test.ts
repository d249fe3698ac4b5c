import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HBA_USERS_BEGIN, HBA_USERS_END, hbaUserLines, withUserLines } from '../../handlers/databases/hba.ts';
import { pgHba } from '../../handlers/databases/setup.ts';
import { checkedNetworks, mariadbHosts, networkProblem, pgHbaLines } from '../../queues/databases/addresses.ts';

test('allowFrom entries are networks as values; hostile text is refused', () => {
  for (const bad of [
    '10.0.0.1/8',
    '10.0.0.0/33',
    '0177.0.0.1/32',
    '127.1/32',
    'fe80::1%eth0',
    "1.2.3.4/32' OR 1=1",
    '1.2.3.4 all',
    '',
    'all',
    'samehost',
    '1.2.3.4/24/1',
  ])
    assert.ok(networkProblem(bad, 'postgresql'), JSON.stringify(bad));
  assert.equal(networkProblem('2001:db8::/32', 'postgresql'), null);
  assert.match(networkProblem('2001:db8::/32', 'mariadb') ?? '', /IPv6/);
  assert.equal(networkProblem('2001:db8::7/128', 'mariadb'), null);
  assert.throws(() => checkedNetworks(['10.0.0.0/8', '"x" all'], 'postgresql'), /allowFrom entry/);
});

test('PostgreSQL: the networks over TLS, then a reject for the user; none: no lines', () => {
  const networks = checkedNetworks(['192.0.2.0/24', '::ffff:198.51.100.7'], 'postgresql');
  assert.deepEqual(pgHbaLines('alice_app', networks), [
    'hostssl all "alice_app" 192.0.2.0/24 scram-sha-256',
    'hostssl all "alice_app" 198.51.100.7/32 scram-sha-256',
    'hostssl all "alice_app" all reject',
  ]);
  assert.deepEqual(pgHbaLines('alice_app', []), []);
});

test('MariaDB: one account host part per network (netmask), anywhere is %', () => {
  assert.deepEqual(mariadbHosts([]), ['%']);
  assert.deepEqual(mariadbHosts(checkedNetworks(['10.77.61.128/25', '192.0.2.7/32', '2001:db8::7/128', '0.0.0.0/0'], 'mariadb')), [
    '10.77.61.128/255.255.255.128',
    '192.0.2.7',
    '2001:db8::7',
    '0.0.0.0/0.0.0.0',
  ]);
});

test("pg_hba.conf: one user's lines replaced between the markers, before the catch-all; setup keeps them", () => {
  const a = pgHbaLines('alice_a', checkedNetworks(['192.0.2.0/24'], 'postgresql'));
  const b = pgHbaLines('bob_b', checkedNetworks(['198.51.100.0/24'], 'postgresql'));
  let text = withUserLines(pgHba(), 'alice_a', a)!;
  text = withUserLines(text, 'bob_b', b)!;
  assert.deepEqual(hbaUserLines(text), [...a, ...b]);
  const lines = text.split('\n');
  assert.ok(lines.indexOf(HBA_USERS_END) < lines.indexOf('hostssl all all all scram-sha-256'));
  assert.ok(lines.indexOf(HBA_USERS_BEGIN) > lines.indexOf('hostnossl all all all reject'));
  // Alice back to anywhere: only bob's lines stay; setup rewriting the file keeps them.
  text = withUserLines(text, 'alice_a', [])!;
  assert.deepEqual(hbaUserLines(text), b);
  assert.equal(pgHba(hbaUserLines(text)), text);
  // A file from before the markers: no place to put lines.
  assert.equal(withUserLines('hostssl all all all scram-sha-256\n', 'alice_a', a), null);
});
