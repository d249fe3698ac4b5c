import type { Knex } from 'knex';
import type { HostRef } from '../../queues/host-ref.ts';

export interface HostRow {
  id: string;
  name: string;
  address: string;
  port: number;
  ssh_user: string;
  host_key_sha256: string;
  jump_host: string | null;
  local: boolean;
  roles: string[];
  labels: Record<string, string>;
  capacity: Record<string, number>;
  maintenance: boolean;
  facts: Record<string, unknown> | null;
  facts_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function getHostByName(db: Knex, name: string): Promise<HostRow | undefined> {
  return db('hosts').where({ name }).first();
}

/** The snapshot of a host a message carries (see queues/host-ref.ts), jump host included. */
export async function hostRefOf(db: Knex, host: HostRow): Promise<HostRef> {
  const ref: HostRef = {
    name: host.name,
    address: host.address,
    port: host.port,
    user: host.ssh_user,
    hostKeySha256: host.host_key_sha256,
  };
  if (host.local) ref.local = true;
  if (host.jump_host) {
    const jump = await getHostByName(db, host.jump_host);
    if (jump)
      ref.jump = { name: jump.name, address: jump.address, port: jump.port, user: jump.ssh_user, hostKeySha256: jump.host_key_sha256 };
  }
  return ref;
}
