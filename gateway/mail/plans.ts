/**
 * Every change to a mail host's domains, mailboxes or aliases bumps the host's generation and
 * plans one mail.apply carrying the host's whole state at that generation, read in the same
 * transaction: the rows are the truth, the host a rendering of them. An older apply still
 * queued is superseded by the newer one.
 */
import type { Knex } from 'knex';
import { SERVICE_CERT_DEPLOY_DIR } from '../../queues/certificates/service.ts';
import { mailApply } from '../../queues/mail/ops.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import { BASE_DIR } from '../../lib/validate/web.ts';
import { MAIL_DOMAIN } from '../../lib/validate/mail.ts';
import { DEPLOY_DIR_LABEL } from '../certificates/service.ts';
import type { OwnedKind, WantedRecords } from '../domain.ts';
import { hostRefOf, type HostRow } from '../hosts/store.ts';
import { conflict } from '../plugins/errors.ts';
import { plan, type JobPlan } from '../plan.ts';
import { hostMailState, mailHostRow, type MailDomainRow, type MailHostRow } from './store.ts';
import { removeMailDomainRecordJobs } from '../dns/managed.ts';
import { mailDnsRecords } from './views.ts';

export const MAIL_ROLE = 'mail';
export const HOSTNAME_LABEL = 'mail.hostname';
export const VMAIL_ROOT_LABEL = 'mail.vmail-root';
export const VMAIL_UID = 5000;

/** Where and how up's postfix and dovecot run on this host: defaults, or the host's labels. */
export function mailLayoutOf(host: HostRow): PayloadOf<typeof mailApply>['layout'] {
  const labels = host.labels ?? {};
  const hostname = labels[HOSTNAME_LABEL] ?? `${host.name}.localdomain`;
  const vmailRoot = labels[VMAIL_ROOT_LABEL] ?? '/var/vmail';
  const tlsDir = labels[DEPLOY_DIR_LABEL] ?? SERVICE_CERT_DEPLOY_DIR;
  if (!new RegExp(MAIL_DOMAIN).test(hostname))
    throw conflict(`host ${host.name}: label ${HOSTNAME_LABEL} must be a lower-case domain name`);
  for (const [label, dir] of [
    [VMAIL_ROOT_LABEL, vmailRoot],
    [DEPLOY_DIR_LABEL, tlsDir],
  ]) {
    if (!new RegExp(BASE_DIR).test(dir)) throw conflict(`host ${host.name}: label ${label} must be an absolute path without '..'`);
  }
  return { hostname, vmailRoot, vmailUid: VMAIL_UID, tlsDir, ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 } };
}

/** The next generation of the host's mail, and the mail.apply that converges the host to it. */
export async function mailApplyJob(trx: Knex, hostId: string): Promise<JobPlan> {
  await mailHostRow(trx, hostId);
  // The row lock orders concurrent changes: the state read below includes every change committed before it.
  const [row]: MailHostRow[] = await trx('mail_hosts')
    .where({ host_id: hostId })
    .update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
    .returning('*');
  return mailApplyAt(trx, hostId, row.generation);
}

/** mail.apply of the host at `generation` (also what the role set-up and a repair plan). */
export async function mailApplyAt(db: Knex, hostId: string, generation: number): Promise<JobPlan> {
  const host: HostRow | undefined = await db('hosts').where({ id: hostId }).first();
  if (!host) throw conflict('the mail host no longer exists');
  return plan({
    op: mailApply,
    payload: { host: await hostRefOf(db, host), layout: mailLayoutOf(host), generation, state: await hostMailState(db, hostId) },
    target: `mail@${host.name}`,
    generation,
    resourceId: hostId,
  });
}

/** `up hosts prepare` on a mail host: postfix and dovecot configured and started, with what the host serves. */
export async function mailSetupOf(db: Knex, host: HostRow): Promise<JobPlan | null> {
  return mailApplyJob(db, host.id);
}

/** The host generation a change will be served at: the one mailApplyJob just planned. */
export const generationOf = (job: JobPlan) => job.generation ?? 0;

async function removeRowAndApply(trx: Knex.Transaction, table: string, id: string, domainId: string): Promise<JobPlan[]> {
  const domain: { host_id: string } | undefined = await trx('mail_domains').where({ id: domainId }).first('host_id');
  await trx(table).where({ id }).delete();
  return domain ? [await mailApplyJob(trx, domain.host_id)] : [];
}

/** Resources users own: removed with their user (lists, aliases and mailboxes before their domains). */
export const OWNED_MAIL_KINDS: OwnedKind[] = [
  {
    kind: 'mailLists',
    table: 'mail_lists',
    planRemoval: (trx, row) => removeRowAndApply(trx, 'mail_lists', row.id as string, row.domain_id as string),
  },
  {
    kind: 'mailAliases',
    table: 'mail_aliases',
    planRemoval: (trx, row) => removeRowAndApply(trx, 'mail_aliases', row.id as string, row.domain_id as string),
  },
  {
    kind: 'mailBoxes',
    table: 'mail_boxes',
    planRemoval: (trx, row) => removeRowAndApply(trx, 'mail_boxes', row.id as string, row.domain_id as string),
  },
  {
    kind: 'mailDomains',
    table: 'mail_domains',
    async planRemoval(trx, row) {
      const records = await removeMailDomainRecordJobs(trx, row as unknown as MailDomainRow);
      await trx('mail_lists').where({ domain_id: row.id }).delete();
      await trx('mail_aliases').where({ domain_id: row.id }).delete();
      await trx('mail_boxes').where({ domain_id: row.id }).delete();
      await trx('mail_domains').where({ id: row.id }).delete();
      return [await mailApplyJob(trx, row.host_id as string), ...records];
    },
  },
];

/** What the owner's mail domains keep in their zones (MX, SPF, DMARC, and DKIM once their host made the key). */
export async function wantedMailRecords(db: Knex, owner: { id: string }): Promise<WantedRecords[]> {
  const domains: (MailDomainRow & { host: HostRow })[] = await db('mail_domains as d')
    .join('hosts as h', 'h.id', 'd.host_id')
    .where('d.owner_id', owner.id)
    .select('d.*', db.raw('to_jsonb(h) as host'));
  return domains.map((domain) => ({
    by: { manager_kind: 'mail-domain', manager_id: domain.id },
    records: mailDnsRecords(domain.name, mailLayoutOf(domain.host).hostname, domain.dkim_public_key),
  }));
}
