import assert from 'node:assert/strict';
import { test } from 'node:test';
import { databaseUrl } from '../../gateway/apps/database.ts';

test("an app's DATABASE_URL: every part quoted, so a password with URL characters reads back whole", () => {
  const password = "p@ss:w/o?r#d%20 'x'";
  const url = databaseUrl('postgresql', { user: 'alice_blog', password, address: '10.0.0.5', port: 5432, database: 'alice_blog' });
  const parsed = new URL(url);
  assert.equal(parsed.protocol, 'postgresql:');
  assert.equal(decodeURIComponent(parsed.password), password);
  assert.equal(parsed.username, 'alice_blog');
  assert.equal(parsed.hostname, '10.0.0.5');
  assert.equal(parsed.port, '5432');
  assert.equal(parsed.pathname, '/alice_blog');
  assert.equal(parsed.searchParams.get('sslmode'), 'require');
});

test('MariaDB and an IPv6 server address', () => {
  const url = databaseUrl('mariadb', { user: 'bob_app', password: 'x', address: 'fd00::5', port: 3306, database: 'bob_shop' });
  assert.equal(url, 'mysql://bob_app:x@[fd00::5]:3306/bob_shop?ssl-mode=REQUIRED');
  assert.equal(new URL(url).hostname, '[fd00::5]');
});
