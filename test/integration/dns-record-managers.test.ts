/**
 * Migration 021: records kept for a website or a proxy group name their manager as
 * (manager_kind, manager_id); rows written by earlier versions keep their manager, and the
 * user's own records stay unmanaged.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Knex } from 'knex';
import { managersOf } from '../../gateway/dns/managed-store.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { MIGRATIONS, migrateLatest } from '../../lib/db/migrate.ts';
import { freshDatabase } from '../helpers/postgres.ts';

let fresh: Awaited<ReturnType<typeof freshDatabase>>;
let db: Database;
let knex: Knex;
const ids = { user: randomUUID(), group: randomUUID(), site: randomUUID(), server: randomUUID(), zone: randomUUID() };
const record = (name: string, managedBy: Record<string, string>) => ({
  id: randomUUID(),
  zone_id: ids.zone,
  name,
  type: 'A',
  ttl: 300,
  data: JSON.stringify({ address: '192.0.2.1' }),
  value: '192.0.2.1',
  ...managedBy,
});

before(async () => {
  fresh = await freshDatabase();
  db = openDatabase({ url: fresh.url });
  knex = db.knex;
  const migrationSource = {
    getMigrations: async () => Object.keys(MIGRATIONS).filter((name) => name < '021'),
    getMigrationName: (name: string) => name,
    getMigration: async (name: string) => MIGRATIONS[name],
  };
  await knex.migrate.latest({ migrationSource, tableName: 'up_migrations' });
  await knex('users').insert({ id: ids.user, name: 'alice', role: 'user' });
  await knex('proxy_groups').insert({
    id: ids.group,
    name: 'edge',
    wildcard_domain: 'edge.example.test',
    addresses: JSON.stringify(['192.0.2.1']),
    base_dir: '/srv/up',
    http_port: 80,
    nginx_user: 'www-data',
  });
  await knex('websites').insert({
    id: ids.site,
    name: 'shop',
    owner_id: ids.user,
    proxy_group_id: ids.group,
    temp_domain: 'shop-alice.edge.example.test',
    spec: JSON.stringify({ domains: ['shop.example.test'] }),
  });
  await knex('hosts').insert({ id: randomUUID(), name: 'ns1', address: '192.0.2.53', host_key_sha256: `SHA256:${'A'.repeat(43)}` });
  await knex('dns_servers').insert({
    id: ids.server,
    name: 'ns',
    primary_host: 'ns1',
    address: '192.0.2.53',
    rndc_conf: '/etc/bind/rndc.conf',
    zone_dir: '/var/lib/bind',
    key_name: 'up',
  });
  await knex('dns_zones').insert({ id: ids.zone, name: 'example.test', owner_id: ids.user, server_id: ids.server });
  await knex('dns_records').insert([
    record('shop.example.test', { website_id: ids.site }),
    record('edge.example.test', { proxy_group_id: ids.group }),
    record('mine.example.test', {}),
  ]);
  await migrateLatest(knex);
});
after(async () => {
  await db?.close();
  await fresh?.cleanup();
});

test('records written before 021 keep their manager, named by kind and id; the user’s own stay unmanaged', async () => {
  const rows = await knex('dns_records').orderBy('name').select('id', 'name', 'manager_kind', 'manager_id');
  assert.deepEqual(
    rows.map((r) => [r.name, r.manager_kind, r.manager_id]),
    [
      ['edge.example.test', 'proxy', ids.group],
      ['mine.example.test', null, null],
      ['shop.example.test', 'website', ids.site],
    ],
  );
  const managers = await managersOf(knex, rows);
  assert.deepEqual(
    rows.map((r) => managers.get(r.id) ?? null),
    [{ kind: 'proxy', name: 'edge' }, null, { kind: 'website', name: 'shop' }],
    'the records API names them as before',
  );
});

test('a manager kind without its id (or the reverse) is refused by the database', async () => {
  await assert.rejects(knex('dns_records').insert(record('half.example.test', { manager_kind: 'website' })), /dns_records_manager/);
  await assert.rejects(knex('dns_records').insert(record('half.example.test', { manager_id: ids.site })), /dns_records_manager/);
});
