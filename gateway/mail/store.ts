/** The mail tables (lib/db/migrations/024-mail.ts). */
import type { Knex } from 'knex';
import type { MailListPolicy } from '../../lib/validate/mail.ts';

export interface MailHostRow {
  host_id: string;
  generation: number;
  applied_generation: number | null;
  last_error: string | null;
  updated_at: Date;
}

export interface MailDomainRow {
  id: string;
  name: string;
  owner_id: string;
  host_id: string;
  generation: number;
  /** The DKIM public key (p=) the mail host reported; null until it made the key. */
  dkim_public_key: string | null;
  created_at: Date;
}

export interface MailBoxRow {
  id: string;
  address: string;
  domain_id: string;
  owner_id: string;
  password_hash: string;
  quota_mb: number;
  enabled: boolean;
  generation: number;
  created_at: Date;
  updated_at: Date;
}

export interface MailAliasRow {
  id: string;
  address: string;
  domain_id: string;
  owner_id: string;
  targets: string[];
  generation: number;
  created_at: Date;
}

export interface MailListRow {
  id: string;
  address: string;
  domain_id: string;
  owner_id: string;
  policy: MailListPolicy;
  moderators: string[];
  generation: number;
  created_at: Date;
}

export const getMailDomain = (db: Knex, name: string): Promise<MailDomainRow | undefined> => db('mail_domains').where({ name }).first();

/** The mail host's row, made on first use (a host of role `mail` that serves nothing yet has none). */
export async function mailHostRow(db: Knex, hostId: string): Promise<MailHostRow> {
  await db('mail_hosts').insert({ host_id: hostId }).onConflict('host_id').ignore();
  return db('mail_hosts').where({ host_id: hostId }).first();
}

/** Everything one mail host serves, as mail.apply carries it. */
export async function hostMailState(db: Knex, hostId: string) {
  const domains: MailDomainRow[] = await db('mail_domains').where({ host_id: hostId }).orderBy('name');
  const ids = domains.map((d) => d.id);
  const boxes: MailBoxRow[] = ids.length ? await db('mail_boxes').whereIn('domain_id', ids).orderBy('address') : [];
  const aliases: MailAliasRow[] = ids.length ? await db('mail_aliases').whereIn('domain_id', ids).orderBy('address') : [];
  const lists: MailListRow[] = ids.length ? await db('mail_lists').whereIn('domain_id', ids).orderBy('address') : [];
  const members = new Map<string, string[]>();
  if (lists.length)
    for (const m of (await db('mail_list_members')
      .whereIn(
        'list_id',
        lists.map((l) => l.id),
      )
      .orderBy('address')) as { list_id: string; address: string }[])
      members.set(m.list_id, [...(members.get(m.list_id) ?? []), m.address]);
  return {
    domains: domains.map((d) => ({ id: d.id, name: d.name, dkimKnown: d.dkim_public_key !== null })),
    boxes: boxes.map((b) => ({
      id: b.id,
      domainId: b.domain_id,
      address: b.address,
      hash: b.password_hash,
      quotaMb: b.quota_mb,
      enabled: b.enabled,
    })),
    aliases: aliases.map((a) => ({ source: a.address, targets: a.targets })),
    lists: lists.map((l) => ({
      id: l.id,
      address: l.address,
      policy: l.policy,
      moderators: l.moderators,
      members: members.get(l.id) ?? [],
    })),
  };
}
