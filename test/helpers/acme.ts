/**
 * The ACME lab the certificate tests share: a lab BIND on the bridge (it resolves the test
 * names for pebble and takes DNS-01 updates signed with its TSIG key), pebble, that key in a
 * keys directory for up, and the environment an in-process stack reads them from.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { labBind, tsigKeysDir, type LabBind } from './bind.ts';
import { labPebble, type LabPebble } from './pebble.ts';

export interface LabAcme {
  bind: LabBind;
  pebble: LabPebble;
  /** UP_TSIG_KEYS_DIR, UP_ACME_DIRECTORY, UP_ACME_CA_BUNDLE and a 1 s DNS propagation wait. */
  env: Record<string, string>;
  /** Registers the lab BIND as up's DNS server, its zone hosted for `ownerId`; returns the server id. */
  hostZone(db: Knex, options: { primaryHost: string; ownerId: string }): Promise<string>;
  /** A primary zone more on the lab BIND; `updatable` lets DNS-01 (the TSIG key) change it. */
  addZone(name: string, records: string[], options?: { updatable?: boolean }): Promise<void>;
  down(): Promise<void>;
}

/** BIND and pebble listen on `bridge`; pebble sends HTTP-01 to port `httpPort` of the address it resolves. */
export async function labAcme(bridge: string, httpPort = 80): Promise<LabAcme> {
  const bind = await labBind(bridge);
  let pebble: LabPebble;
  try {
    pebble = await labPebble(bridge, `${bridge}:${bind.server.port}`, httpPort);
  } catch (error) {
    await bind.down().catch(() => undefined);
    throw error;
  }
  const keys = await tsigKeysDir(bind.key.name, bind.key.secret);
  return {
    bind,
    pebble,
    env: {
      UP_TSIG_KEYS_DIR: keys.dir,
      UP_ACME_DIRECTORY: pebble.directory,
      UP_ACME_CA_BUNDLE: pebble.caBundle,
      UP_ACME_DNS_PROPAGATION_SECONDS: '1',
    },
    async hostZone(db, { primaryHost, ownerId }) {
      const serverId = crypto.randomUUID();
      await db('dns_servers').insert({
        id: serverId,
        name: 'lab',
        primary_host: primaryHost,
        address: bind.server.address,
        port: bind.server.port,
        rndc_conf: join(bind.dir, 'rndc.conf'),
        zone_dir: join(bind.dir, 'zones'),
        key_name: bind.key.name,
        algorithm: bind.key.algorithm,
      });
      await db('dns_zones').insert({ id: crypto.randomUUID(), name: bind.zone, owner_id: ownerId, server_id: serverId, status: 'active' });
      return serverId;
    },
    async addZone(name, records, { updatable = false } = {}) {
      const file = join(bind.dir, 'zones', `${name}.zone`);
      writeFileSync(
        file,
        [
          '$TTL 60',
          `@ IN SOA ns1.${name}. hostmaster.${name}. ( 1 3600 600 86400 60 )`,
          `  IN NS ns1.${name}.`,
          `ns1 IN A ${bridge}`,
          ...records,
          '',
        ].join('\n'),
      );
      const update = updatable ? ` allow-update { key ${bind.key.name}; };` : '';
      await bind.rndc(['addzone', name, `{ type primary; file "${file}";${update} };`]);
    },
    async down() {
      await pebble.down().catch(() => undefined);
      await bind.down().catch(() => undefined);
      await keys.remove();
    },
  };
}
