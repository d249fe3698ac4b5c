import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessByUser, parseGrantee, type SchemaPrivilege } from '../../handlers/databases/mariadb-access.ts';
import { dbServerProbe } from '../../handlers/databases/health.check.db-server/handler.ts';

/** MariaDB 10.11's schema-level privileges: what ALL PRIVILEGES on a schema grants. */
const ALL = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'REFERENCES',
  'INDEX',
  'ALTER',
  'CREATE TEMPORARY TABLES',
  'LOCK TABLES',
  'EXECUTE',
  'CREATE VIEW',
  'SHOW VIEW',
  'CREATE ROUTINE',
  'ALTER ROUTINE',
  'EVENT',
  'TRIGGER',
  'DELETE HISTORY',
];
const holds = (user: string, host: string, privileges: string[], grantable = false): SchemaPrivilege[] =>
  privileges.map((privilege) => ({ user, host, privilege, grantable }));

test('MariaDB access: ALL PRIVILEGES is rw, SELECT and SHOW VIEW is ro, on every account of the user', () => {
  const accounts = [
    { user: 'alice_app', host: '%' },
    { user: 'alice_rep', host: '10.0.0.0/255.0.0.0' },
    { user: 'alice_rep', host: '192.168.1.7' },
  ];
  const found = accessByUser(
    [
      ...holds('alice_app', '%', ALL),
      ...holds('alice_rep', '10.0.0.0/255.0.0.0', ['SHOW VIEW', 'SELECT']),
      ...holds('alice_rep', '192.168.1.7', ['SELECT', 'SHOW VIEW']),
    ],
    accounts,
    ALL.length,
  );
  assert.deepEqual(
    [...found],
    [
      ['alice_app', 'rw'],
      ['alice_rep', 'ro'],
    ],
  );
});

test('MariaDB access: a privilege added or taken by hand, GRANT OPTION, or an account left without its grant is spelled out', () => {
  const accounts = [
    { user: 'a', host: '%' },
    { user: 'b', host: '%' },
    { user: 'c', host: '%' },
    { user: 'd', host: '%' },
    { user: 'd', host: '10.1.2.3' },
  ];
  const found = accessByUser(
    [
      ...holds('a', '%', ['SELECT', 'SHOW VIEW', 'INSERT']),
      ...holds(
        'b',
        '%',
        ALL.filter((p) => p !== 'DROP'),
      ),
      ...holds('c', '%', ALL, true),
      ...holds('d', '%', ['SELECT', 'SHOW VIEW']),
    ],
    accounts,
    ALL.length,
  );
  assert.equal(found.get('a'), 'INSERT, SELECT, SHOW VIEW');
  assert.notEqual(found.get('b'), 'rw');
  assert.doesNotMatch(found.get('b')!, /\bDROP\b/);
  assert.match(found.get('c')!, /WITH GRANT OPTION$/);
  assert.equal(found.get('d'), "ro from '%'; no from '10.1.2.3'");
});

test("MariaDB grantees: only 'user'@'host' is read as one", () => {
  assert.deepEqual(parseGrantee("'alice_app'@'%'"), { user: 'alice_app', host: '%' });
  assert.equal(parseGrantee("'a'@'b'@'c'"), null);
  assert.equal(parseGrantee('alice_app@%'), null);
});

test('db-server probe: STARTTLS of the engine on the address it listens on, the installed certificate, values quoted', () => {
  const tls = { cert: '/srv/tls/postgresql/fullchain.pem', key: '/srv/tls/postgresql/privkey.pem' };
  const host = { name: 'db1', address: '10.0.0.5', port: 22, user: 'root', hostKeySha256: 'x' } as never;
  const pg = dbServerProbe({
    server: { name: 'pg1', engine: 'postgresql', host, port: 5432, cluster: 'main' },
    listen: 'fd00::5',
    tls,
  }).text;
  // The quoting (backslashes) is the sh template's; what it quotes is the point here.
  assert.match(pg.replace(/\\(.)/g, '$1'), /-starttls postgres -connect \[fd00::5\]:5432 /);
  assert.match(pg, /-connect \\\[fd00\\:\\:5\\]\\:5432 /, 'quoted');
  assert.match(pg, /openssl x509 -in \/srv\/tls\/postgresql\/fullchain.pem /);
  assert.match(pg, /psql .* -p 5432 /);
  const my = dbServerProbe({ server: { name: 'my1', engine: 'mariadb', host, port: 3306, cluster: 'main' }, listen: '10.0.0.5', tls }).text;
  assert.match(my.replace(/\\(.)/g, '$1'), /-starttls mysql -connect 10\.0\.0\.5:3306 /);
  assert.match(my, /@@max_connections/);
});
