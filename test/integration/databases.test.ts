/**
 * Databases end to end on real servers: PostgreSQL 15 and MariaDB 10.11 set up by
 * database.server.setup in lab hosts (test/helpers/db-lab.ts), the pipeline in-process, and the
 * checks a tenant would make with `psql` and `mariadb` over TLS (the CA is the test's: the
 * certificate sits where `up certs create --service` installs it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_ENGINES, dbLab, dbLabCalls, type DbLab, SERVER_NAMES } from '../helpers/db-lab.ts';
import { eventually } from '../helpers/eventually.ts';
import { runUp } from '../helpers/processes.ts';
import type { Json } from '../helpers/stack-api.ts';

const TENANTS = ['dbalice', 'dbbob'];
/** How long a change may take to show on a server, and how often to look. */
const SOON = { timeoutMs: 10_000, intervalMs: 500 };
const LATER = { timeoutMs: 60_000, intervalMs: 500 };

describe('databases on real PostgreSQL and MariaDB', { timeout: 300_000 }, () => {
  let lab: DbLab;
  /** Every password this test used: none may be stored anywhere by up. */
  const passwords = new Set<string>();
  const { api, settled, succeeded } = dbLabCalls(() => lab);
  const admin = api('admin');
  const alice = api('dbalice');
  const bob = api('dbbob');

  before(async () => {
    // Health rounds every second: the drift test below waits for a check, a repair and the next check.
    lab = await dbLab({
      prefix: 'up-dbt',
      subnet: '10.77.61',
      bridge: 'uplab61',
      tenants: TENANTS,
      env: { UP_HEALTH_INTERVAL_MS: '1000' },
    });
  });

  after(async () => {
    await lab?.down();
  });

  test('the servers listen on the admin address with TLS required; setup run again changes nothing', async () => {
    const { body } = await admin('GET', '/v1/db-servers');
    assert.deepEqual(
      body.items.map((s: Json) => [s.name, s.engine, s.port, s.default]),
      [
        ['my1', 'mariadb', 3306, true],
        ['pg1', 'postgresql', 5432, true],
      ],
    );
    for (const name of ['pg1', 'my1']) {
      const again = await succeeded(await admin('POST', `/v1/db-servers/${name}/setup`), 'admin');
      const job = await settled(again.jobs[0], 'admin');
      assert.deepEqual(job.result.changed, [], `${name}: a second setup changes nothing`);
    }
  });

  for (const engine of DB_ENGINES) {
    test(`${engine}: two databases, three users paired rw/ro, real clients over TLS, refused where not granted`, async () => {
      const pw = (label: string) => {
        const p = `${engine}-${label}-${crypto.randomUUID().slice(0, 8)}`;
        passwords.add(p);
        return p;
      };
      const app = { user: 'dbalice_app', password: pw('app') };
      const adm = { user: 'dbalice_adm', password: pw('adm') };
      const bobu = { user: 'dbbob_own', password: pw('bob') };

      // Three users of alice's (one with a generated password, shown once), two databases.
      await succeeded(await alice('POST', '/v1/database-users', { name: 'app', engine, password: app.password }), 'dbalice');
      await succeeded(await alice('POST', '/v1/database-users', { name: 'adm', engine, password: adm.password }), 'dbalice');
      const generated = await succeeded(await alice('POST', '/v1/database-users', { name: 'rep', engine }), 'dbalice');
      assert.match(generated.password, /^[A-Za-z2-9]{24}$/);
      passwords.add(generated.password);
      const rep = { user: 'dbalice_rep', password: generated.password as string };
      assert.equal((await alice('GET', '/v1/database-users/rep')).body.password, undefined, 'shown once');
      await succeeded(await alice('POST', '/v1/databases', { name: 'shop', engine }), 'dbalice');
      await succeeded(await alice('POST', '/v1/databases', { name: 'blog', engine }), 'dbalice');
      for (const [db, user, access] of [
        ['shop', 'app', 'rw'],
        ['shop', 'rep', 'ro'],
        ['blog', 'adm', 'rw'],
        ['blog', 'rep', 'ro'],
      ])
        await succeeded(await alice('PUT', `/v1/databases/${db}/users`, { user, access }), 'dbalice');
      const shown = (await alice('GET', '/v1/databases/shop')).body;
      assert.equal(shown.fullName, 'dbalice_shop');
      assert.deepEqual(
        shown.users.map((u: Json) => [u.fullName, u.access]),
        [
          ['dbalice_app', 'rw'],
          ['dbalice_rep', 'ro'],
        ],
      );
      // Bob's own pair.
      await succeeded(await bob('POST', '/v1/database-users', { name: 'own', engine, password: bobu.password }), 'dbbob');
      // Bob's database is granted to his user as it is created: one request, one job.
      const data = await bob('POST', '/v1/databases', { name: 'data', engine, users: [{ user: 'own', access: 'rw' }] });
      assert.equal(data.body.jobs.length, 1, JSON.stringify(data.body));
      await succeeded(data, 'dbbob');

      // rw writes (over TLS: the session says so), ro reads and cannot write.
      const tlsProbe = engine === 'postgresql' ? '\\conninfo' : "SHOW STATUS LIKE 'Ssl_version'";
      const probe = await lab.client(engine, app, 'dbalice_shop', tlsProbe);
      assert.ok(probe.ok, probe.out);
      assert.match(probe.out, engine === 'postgresql' ? /SSL connection \(protocol: TLSv1\.[23]/ : /TLSv1\.[23]/);
      const write = await lab.client(
        engine,
        app,
        'dbalice_shop',
        'CREATE TABLE items (n int); INSERT INTO items VALUES (7); SELECT n FROM items;',
      );
      assert.ok(write.ok, write.out);
      assert.equal(write.out, '7');
      const read = await lab.client(engine, rep, 'dbalice_shop', 'SELECT n FROM items');
      assert.deepEqual(read, { ok: true, out: '7' });
      const roWrite = await lab.client(engine, rep, 'dbalice_shop', 'INSERT INTO items VALUES (8)');
      assert.equal(roWrite.ok, false, 'ro cannot write');
      assert.match(roWrite.out, /permission denied|command denied/i);
      // A table made later by a rw user is readable by ro (PostgreSQL: it is the database's, default privileges).
      assert.ok((await lab.client(engine, app, 'dbalice_shop', "CREATE TABLE later (s text); INSERT INTO later VALUES ('x');")).ok);
      assert.deepEqual(await lab.client(engine, rep, 'dbalice_shop', 'SELECT s FROM later'), { ok: true, out: 'x' });

      // Refused where not granted: another database of alice's, bob's database, and bob into alice's.
      for (const [who, db] of [
        [app, 'dbalice_blog'],
        [app, 'dbbob_data'],
        [adm, 'dbalice_shop'],
        [bobu, 'dbalice_shop'],
        [bobu, 'dbalice_blog'],
      ] as const) {
        const refused = await lab.client(engine, who, db, 'SELECT 1');
        assert.equal(refused.ok, false, `${who.user} into ${db}`);
        assert.match(refused.out, /permission denied|access denied/i, `${who.user} into ${db}`);
      }
      assert.deepEqual(await lab.client(engine, bobu, 'dbbob_data', 'SELECT 1'), { ok: true, out: '1' });
      // Without TLS nobody gets in, even with the right password.
      const plain = await lab.client(engine, app, 'dbalice_shop', 'SELECT 1', false);
      assert.equal(plain.ok, false, 'no TLS, no session');
      // MariaDB lists only what a user may use; PostgreSQL's catalog is the engine's, but CONNECT is refused (above).
      if (engine === 'mariadb') {
        const seen = await lab.client(engine, app, 'dbalice_shop', 'SHOW DATABASES');
        assert.deepEqual(
          seen.out.split('\n').filter((d) => d.startsWith('db')),
          ['dbalice_shop'],
        );
      } else {
        const schema = await lab.client(engine, bobu, 'dbbob_data', 'CREATE TABLE t (n int)');
        assert.ok(schema.ok, `rw creates in its public schema: ${schema.out}`);
      }

      // Bob cannot see or address alice's resources through the API either.
      assert.equal((await bob('GET', '/v1/databases/shop')).status, 404);
      assert.equal((await bob('PUT', '/v1/databases/data/users', { user: 'app', access: 'rw' })).status, 404);
      assert.deepEqual(
        (await bob('GET', '/v1/databases')).body.items.map((d: Json) => d.fullName),
        ['dbbob_data'],
      );

      // A password change: the old one is refused, the new one works.
      const next = pw('app2');
      await succeeded(await alice('POST', '/v1/database-users/app/password', { password: next }), 'dbalice');
      assert.equal((await lab.client(engine, app, 'dbalice_shop', 'SELECT 1')).ok, false, 'the old password is refused');
      assert.deepEqual(await lab.client(engine, { ...app, password: next }, 'dbalice_shop', 'SELECT 1'), { ok: true, out: '1' });

      // Revoke: rep loses shop, keeps blog.
      await succeeded(await alice('DELETE', '/v1/databases/shop/users/rep'), 'dbalice');
      assert.equal((await lab.client(engine, rep, 'dbalice_shop', 'SELECT 1')).ok, false, 'revoked');
      assert.equal((await lab.client(engine, rep, 'dbalice_blog', 'SELECT 1')).ok, true, 'the other grant stays');

      // Delete --with-users: shop goes, and app (which had only shop) with it; rep and adm stay.
      await succeeded(await alice('DELETE', '/v1/databases/shop?withUsers=true'), 'dbalice');
      assert.equal((await alice('GET', '/v1/databases/shop')).status, 404);
      assert.equal((await alice('GET', '/v1/database-users/app')).status, 404);
      assert.equal((await alice('GET', '/v1/database-users/rep')).status, 200);
      const gone = await lab.client(engine, { ...app, password: next }, 'dbalice_blog', 'SELECT 1');
      assert.equal(gone.ok, false, 'the deleted user cannot log in');
      assert.equal((await lab.client(engine, adm, 'dbalice_blog', 'SELECT 1')).ok, true);
      const listed = await lab.client(
        engine,
        adm,
        'dbalice_blog',
        engine === 'postgresql' ? "SELECT count(*) FROM pg_database WHERE datname = 'dbalice_shop'" : "SHOW DATABASES LIKE 'dbalice_shop'",
      );
      assert.ok(listed.ok, listed.out);
      assert.equal(listed.out, engine === 'postgresql' ? '0' : '', 'the database is gone from the server');

      // Clean up what is left, users with the database.
      await succeeded(await alice('DELETE', '/v1/databases/blog?withUsers=true'), 'dbalice');
      await succeeded(await bob('DELETE', '/v1/databases/data?withUsers=true'), 'dbbob');
      assert.deepEqual((await alice('GET', '/v1/database-users')).body.items, []);
    });
  }

  test('hostile names and passwords are refused with 400 naming the field; nothing reaches a server', async () => {
    for (const name of [
      'x"; DROP DATABASE postgres; --',
      "x'--",
      'x`y',
      'Shop',
      'a b',
      '',
      '_x',
      '1x',
      'x'.repeat(33),
      'x\u0000y',
      'é',
      'x;y',
    ]) {
      const db = await alice('POST', '/v1/databases', { name, engine: 'postgresql' });
      assert.equal(db.status, 400, `database ${JSON.stringify(name)}`);
      assert.match(JSON.stringify(db.body), /body\/name/);
      const user = await alice('POST', '/v1/database-users', { name, engine: 'mariadb' });
      assert.equal(user.status, 400, `user ${JSON.stringify(name)}`);
      assert.match(JSON.stringify(user.body), /body\/name/);
    }
    for (const password of ['short', 'with\u0000nul-inside', 'with\nnewline-inside', 'x'.repeat(129), 'unicodé-password']) {
      const res = await alice('POST', '/v1/database-users', { name: 'hostile', engine: 'postgresql', password });
      assert.equal(res.status, 400, JSON.stringify(password));
      assert.match(JSON.stringify(res.body), /body\/password/);
    }
    const engine = await alice('POST', '/v1/databases', { name: 'ok', engine: 'oracle' });
    assert.equal(engine.status, 400);
    assert.match(JSON.stringify(engine.body), /body\/engine/);
    const owner = await alice('POST', '/v1/databases', { name: 'ok', engine: 'postgresql', owner: 'dbbob' });
    assert.equal(owner.status, 400);
    // Users granted at creation: only the caller's own, each once, by a valid name; nothing is made otherwise.
    for (const [users, field] of [
      [[{ user: 'own', access: 'rw' }], /body\/users.*own: you have no database user/], // bob's
      [[{ user: 'nobody', access: 'rw' }], /body\/users.*nobody/],
      [[{ user: 'x";drop', access: 'rw' }], /body\/users\/0\/user/],
      [[{ user: 'app', access: 'all' }], /body\/users\/0\/access/],
      [
        [
          { user: 'app', access: 'rw' },
          { user: 'app', access: 'ro' },
        ],
        /body\/users.*app twice/,
      ],
    ] as const) {
      const res = await alice('POST', '/v1/databases', { name: 'granted', engine: 'postgresql', users });
      assert.equal(res.status, 400, JSON.stringify(users));
      assert.match(JSON.stringify(res.body), field);
    }
    assert.equal((await alice('GET', '/v1/databases/granted')).status, 404, 'nothing was made');
    // The path: a name with quoting tricks never matches a route parameter.
    assert.equal((await alice('GET', `/v1/databases/${encodeURIComponent('x"y')}`)).status, 400);
    // A name too long for the engine once prefixed (PostgreSQL: 57 for databases).
    const long = await alice('POST', '/v1/databases', { name: `a${'b'.repeat(31)}`, engine: 'postgresql' });
    assert.equal(long.status, 202, 'dbalice_ + 32 = 40 characters fit');
    await Promise.all(long.body.jobs.map((job: Json) => settled(job, 'dbalice')));
    await succeeded(await alice('DELETE', `/v1/databases/a${'b'.repeat(31)}`), 'dbalice');
  });

  for (const engine of DB_ENGINES) {
    test(`${engine}: allowFrom — a user limited to networks the client is not in is refused by the server; editable`, async () => {
      const x = engine === 'postgresql' ? 'p' : 'm';
      const net = { user: `dbalice_net${x}`, password: `${engine}-net-${crypto.randomUUID().slice(0, 8)}` };
      passwords.add(net.password);
      // Hostile or wrong entries: 400 naming the entry, nothing stored.
      for (const entry of ['10.0.0.1/8', '10.0.0.0/33', '0177.0.0.1/32', 'fe80::1%eth0/128', "1.2.3.4/32' OR 1=1", '', 'all', 'samenet']) {
        const res = await alice('POST', '/v1/database-users', { name: `net${x}`, engine, allowFrom: ['192.0.2.0/24', entry] });
        assert.equal(res.status, 400, `${engine}: ${JSON.stringify(entry)}: ${JSON.stringify(res.body)}`);
        assert.match(JSON.stringify(res.body), /body\/allowFrom\/1/);
      }
      if (engine === 'mariadb') {
        const v6 = await alice('POST', '/v1/database-users', { name: `net${x}`, engine, allowFrom: ['2001:db8::/32'] });
        assert.equal(v6.status, 400, 'MariaDB: no IPv6 netmask');
      }
      // Limited to a documentation network the lab client is not in: the server refuses it.
      const made = await succeeded(
        await alice('POST', '/v1/database-users', {
          name: `net${x}`,
          engine,
          password: net.password,
          allowFrom: ['192.0.2.0/24', '198.51.100.7'],
        }),
        'dbalice',
      );
      assert.deepEqual(made.user.allowFrom, ['192.0.2.0/24', '198.51.100.7/32']);
      await succeeded(await alice('POST', '/v1/databases', { name: `netdb${x}`, engine }), 'dbalice');
      await succeeded(await alice('PUT', `/v1/databases/netdb${x}/users`, { user: `net${x}`, access: 'rw' }), 'dbalice');
      const refused = await lab.client(engine, net, `dbalice_netdb${x}`, 'SELECT 1');
      assert.equal(refused.ok, false, 'not from an allowed network');
      assert.match(refused.out, /no pg_hba\.conf entry|rejects connection|not allowed to connect|Access denied/i);
      // Editable: the lab's network added, the same client gets in (with its grant on every account).
      const edited = await succeeded(
        await alice('PATCH', `/v1/database-users/net${x}`, {
          allowFrom: ['192.0.2.0/24', `${lab.hosts[engine].address.split('.').slice(0, 3).join('.')}.0/24`],
        }),
        'dbalice',
      );
      assert.equal(edited.user.allowFrom.length, 2);
      const allowed = await eventually(
        `${engine}: allowed after the edit`,
        async () => {
          const res = await lab.client(engine, net, `dbalice_netdb${x}`, 'SELECT 1');
          return res.ok && res;
        },
        SOON,
      );
      assert.equal(allowed.out, '1');
      // Back to a network the client is not in: refused again; bob cannot edit alice's user.
      await succeeded(await alice('PATCH', `/v1/database-users/net${x}`, { allowFrom: ['203.0.113.0/24'] }), 'dbalice');
      // (PostgreSQL reloads pg_hba.conf on a signal: a moment after the job.)
      await eventually(`${engine}: refused again`, async () => !(await lab.client(engine, net, `dbalice_netdb${x}`, 'SELECT 1')).ok, SOON);
      assert.equal((await bob('PATCH', `/v1/database-users/net${x}`, { allowFrom: [] })).status, 404);
      // Anywhere again (an empty list), then gone with its database.
      await succeeded(await alice('PATCH', `/v1/database-users/net${x}`, { allowFrom: [] }), 'dbalice');
      await eventually(`${engine}: anywhere again`, async () => (await lab.client(engine, net, `dbalice_netdb${x}`, 'SELECT 1')).ok, SOON);
      await succeeded(await alice('DELETE', `/v1/databases/netdb${x}?withUsers=true`), 'dbalice');
      assert.equal((await alice('GET', `/v1/database-users/net${x}`)).status, 404);
    });
  }

  test("the CLI: a tenant creates a user and a database, grants, and psql connects over TLS to the server's address", async () => {
    const env = { UP_URL: lab.stack.url!, UP_TOKEN: lab.tokens.dbbob, UP_LOG_LEVEL: 'silent' };
    const user = await runUp(['database-users', 'create', 'cli', '--engine', 'postgresql', '--wait', '--json'], env);
    assert.equal(user.code, 0, user.stderr + user.stdout);
    const created = JSON.parse(user.stdout);
    passwords.add(created.password);
    const db = await runUp(['databases', 'create', 'clidb', '--engine', 'postgresql', '--user', 'cli', '--wait', '--json'], env);
    assert.equal(db.code, 0, db.stderr + db.stdout);
    const database = JSON.parse(db.stdout).database;
    assert.equal(database.address, lab.hosts.postgresql.address);
    const login = { user: created.user.fullName, password: created.password };
    const session = await lab.client('postgresql', login, database.fullName, 'CREATE TABLE t (n int); SELECT current_database()');
    assert.deepEqual(session, { ok: true, out: 'dbbob_clidb' }, 'granted rw as the database was created');
    const bad = await runUp(['databases', 'create', 'clidb2', '--engine', 'postgresql', '--user', 'cli:all'], env);
    assert.equal(bad.code, 64, bad.stderr);
    assert.match(bad.stderr, /--user cli:all: expected USER, USER:rw or USER:ro/);
    const grant = await runUp(['databases', 'grant', 'clidb', 'cli', '--access', 'ro', '--wait', '--json'], env);
    assert.equal(grant.code, 0, grant.stderr + grant.stdout);
    const write = await lab.client('postgresql', login, database.fullName, 'INSERT INTO t VALUES (1)');
    assert.equal(write.ok, false, 'ro now');
    assert.match(write.out, /permission denied/);
    const removed = await runUp(['databases', 'delete', 'clidb', '--with-users', '--yes', '--wait'], env);
    assert.equal(removed.code, 0, removed.stderr);
  });

  test('health: sizes are measured and shown; a dropped user and its grants come back from the stored verifier', async () => {
    for (const engine of DB_ENGINES) {
      const x = engine === 'postgresql' ? 'p' : 'm';
      const server = SERVER_NAMES[engine];
      const hu = { user: `dbalice_hu${x}`, password: `${engine}-health-${crypto.randomUUID().slice(0, 8)}` };
      passwords.add(hu.password);
      await succeeded(await alice('POST', '/v1/database-users', { name: `hu${x}`, engine, password: hu.password }), 'dbalice');
      await succeeded(await alice('POST', '/v1/databases', { name: `hdb${x}`, engine }), 'dbalice');
      await succeeded(await alice('PUT', `/v1/databases/hdb${x}/users`, { user: `hu${x}`, access: 'rw' }), 'dbalice');
      assert.ok((await lab.client(engine, hu, `dbalice_hdb${x}`, 'CREATE TABLE t (n int); INSERT INTO t VALUES (1)')).ok);
      // The size, as the checks measure it, is shown with the database.
      const sized = await eventually(
        `${engine}: size shown`,
        async () => {
          const { body } = await alice('GET', `/v1/databases/hdb${x}`);
          return typeof body.sizeBytes === 'number' && body.sizeBytes > 0 && body;
        },
        LATER,
      );
      assert.ok(sized.sizeAt);
      // Drift made by hand: the user is dropped on the server (its grants with it).
      await lab.onServer(
        engine,
        engine === 'postgresql'
          ? 'REVOKE ALL ON DATABASE dbalice_hdbp FROM dbalice_hup; REVOKE "dbalice_hdbp-owner" FROM dbalice_hup; ALTER ROLE dbalice_hup IN DATABASE dbalice_hdbp RESET role; DROP ROLE dbalice_hup;'
          : "DROP USER 'dbalice_hum'@'%';",
      );
      assert.equal((await lab.client(engine, hu, `dbalice_hdb${x}`, 'SELECT 1')).ok, false, 'the drift is real');
      // The check sees it, the repair re-creates the user from its stored verifier and re-applies the grants:
      // the tenant's own password works again, and the data is still there.
      const back = await eventually(
        `${engine}: repaired`,
        async () => {
          const res = await lab.client(engine, hu, `dbalice_hdb${x}`, 'SELECT n FROM t');
          return res.ok && res;
        },
        LATER,
      );
      assert.equal(back.out, '1');
      const db = lab.db;
      const repairs = await db('jobs').where({
        op: 'health.repair.database',
        target: `database/dbalice_hdb${x}@${server}`,
      });
      assert.ok(repairs.length >= 1, 'a repair job did it');
      await eventually(
        `${engine}: healthy again`,
        async () => {
          const row = await db('health')
            .where({ resource_type: 'database', resource_key: `dbalice_hdb${x}@${server}` })
            .first();
          return row?.state === 'healthy';
        },
        LATER,
      );
    }
  });

  test('size: over the plan, new databases are refused with 422 naming databaseMb, and an alarm is raised', async () => {
    const patched = await admin('PATCH', '/v1/users/dbalice', { limits: { databaseMb: 0 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const refused = await alice('POST', '/v1/databases', { name: 'more', engine: 'postgresql' });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /databaseMb/);
    const db = lab.db;
    await eventually(
      'the size alarm',
      async () =>
        db('alarms')
          .where({ resource_type: 'database', resource_key: 'dbalice_hdbp@pg1', cause: 'size-over-limit', status: 'open' })
          .first(),
      LATER,
    );
    await admin('PATCH', '/v1/users/dbalice', { limits: { databaseMb: 1024 } });
    for (const name of ['hdbp', 'hdbm']) await succeeded(await alice('DELETE', `/v1/databases/${name}?withUsers=true`), 'dbalice');
  });

  test('no password used here is stored anywhere: jobs, events, audit, every table', async () => {
    const db = lab.db;
    assert.ok(passwords.size >= 8, `${passwords.size} passwords used`);
    const tables: string[] = (
      await db('information_schema.tables').where({ table_schema: 'public', table_type: 'BASE TABLE' }).select('table_name')
    ).map((r: { table_name: string }) => r.table_name);
    assert.ok(tables.includes('jobs'));
    let rows = 0;
    for (const table of tables) {
      const dump: { t: string }[] = (await db.raw('SELECT t::text AS t FROM ?? t', [table])).rows;
      rows += dump.length;
      for (const { t } of dump) for (const p of passwords) assert.ok(!t.includes(p), `a password is stored in ${table}`);
    }
    assert.ok(rows > 50, `${rows} rows searched`);
    const jobs = await db('jobs').where('op', 'like', 'database.user.%').count({ n: '*' }).first();
    assert.ok(Number(jobs?.n) >= 8, 'the user jobs were there to search');
  });
});
