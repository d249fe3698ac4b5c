/**
 * The files a mail host's state becomes: postfix hash maps (written beside the live one,
 * `postmap`ped, and renamed over it, so postfix never reads half a map), and dovecot's
 * passwd-file (renamed into place); mail.apply reloads the daemon whose file changed (its header
 * and wantedFiles say why). Every value passed the payload's strict patterns
 * (lib/validate/mail.ts); Maildir paths are made of ids, never of names.
 */
import type { PayloadOf } from '../../queues/operation.ts';
import { DKIM_SELECTOR, type mailApply } from '../../queues/mail/ops.ts';

type Payload = PayloadOf<typeof mailApply>;

export const MAPS_DIR = '/etc/postfix/up';
export const USERS_FILE = '/etc/dovecot/up-users';
export const GENERATION_FILE = `${MAPS_DIR}/generation`;
/** `sha256sum -c` input: every file mail.apply wrote, as it wrote it. */
export const SUMS_FILE = `${MAPS_DIR}/applied.sha256`;
export const DOVECOT_PID = '/run/dovecot/master.pid';
/** mlmmj's lists: <MLMMJ_SPOOL>/<list id>, written by the `mail` user postfix's pipe runs mlmmj as. */
export const MLMMJ_SPOOL = '/var/spool/mlmmj';
export const MLMMJ_USER = 'mail';
/** The directories mlmmj writes in (the rest of a list's spool is up's, root-owned). */
export const MLMMJ_WRITABLE = [
  'incoming',
  'queue',
  'queue/discarded',
  'archive',
  'bounce',
  'moderation',
  'requeue',
  'subconf',
  'unsubconf',
  'digesters.d',
  'nomailsubs.d',
];

const lines = (rows: string[]) => (rows.length ? `${rows.sort().join('\n')}\n` : '');

/** Where a mailbox lives: ids only. */
export const homeOf = (vmailRoot: string, box: { domainId: string; id: string }) => `${vmailRoot}/${box.domainId}/${box.id}`;

export function renderMaps({ layout, state }: Pick<Payload, 'layout' | 'state'>) {
  const enabled = state.boxes.filter((b) => b.enabled);
  return {
    domains: lines(state.domains.map((d) => `${d.name} OK`)),
    mailboxes: lines(enabled.map((b) => `${b.address} OK`)),
    // A mailbox maps to itself first, so that a domain's catch-all (@domain) never takes its mail.
    aliases: lines([
      ...enabled.map((b) => `${b.address} ${b.address}`),
      // A list is a valid recipient of its domain, and its own catch-all's exception too.
      ...state.lists.map((l) => `${l.address} ${l.address}`),
      ...state.aliases.map((a) => `${a.source} ${a.targets.join(', ')}`),
    ]),
    // list@domain (and list+anything@domain: mlmmj's request addresses) to mlmmj, by the list's id.
    transport: lines(state.lists.map((l) => `${l.address} mlmmj:${l.id}`)),
    users: lines(
      enabled.map(
        (b) => `${b.address}:{SHA512-CRYPT}${b.hash}::::${homeOf(layout.vmailRoot, b)}::userdb_quota_rule=*:storage=${b.quotaMb}M`,
      ),
    ),
  };
}

/**
 * opendkim: its tables in OPENDKIM_DIR, each domain's private key at <DKIM_KEYS_DIR>/<domain id>.private
 * (0600, owner opendkim: made on the host, never read by up) beside its public half
 * (<domain id>.public, the p= value), and the socket postfix's submission services reach, in a
 * directory of group postfix (postfix drops its supplementary groups, so membership of group
 * opendkim would not do), relative to postfix's queue directory as chrooted services would need.
 */
export const OPENDKIM_CONF = '/etc/opendkim.conf';
export const OPENDKIM_DIR = '/etc/opendkim';
export const DKIM_KEYS_DIR = '/etc/dkimkeys/up';
export const OPENDKIM_SOCKET_DIR = '/var/spool/postfix/opendkim';
export const OPENDKIM_PID = '/run/opendkim/opendkim.pid';
export const OPENDKIM_USER = 'opendkim';
/** How many of the host's domains still wait for a key (DKIM_KEYS_PER_APPLY): the health check's to repair. */
export const DKIM_PENDING_FILE = `${OPENDKIM_DIR}/keys-pending`;

export const dkimKeyOf = (domain: { id: string }) => `${DKIM_KEYS_DIR}/${domain.id}.private`;
export const dkimPublicOf = (domain: { id: string }) => `${DKIM_KEYS_DIR}/${domain.id}.public`;

/**
 * opendkim's tables: the key table names each domain's key by the domain's id (d= the domain,
 * s= the selector, the key's path made of the id); the signing table maps the domain to it.
 * opendkim looks a signer up by the SASL login (SenderMacro), so only a mailbox of the domain
 * gets its mail signed with the domain's key.
 */
export function renderDkim({ state }: Pick<Payload, 'state'>) {
  return {
    keyTable: lines(state.domains.map((d) => `${d.id} ${d.name}:${DKIM_SELECTOR}:${dkimKeyOf(d)}`)),
    signingTable: lines(state.domains.map((d) => `${d.name} ${d.id}`)),
  };
}

export const listDir = (list: { id: string }) => `${MLMMJ_SPOOL}/${list.id}`;

/** mlmmj's switches: on when the file exists, whatever it holds. */
export const LIST_FLAGS = ['subonlypost', 'moderated', 'modonlypost'] as const;

/** The files that make one mlmmj list what PostgreSQL says (address, owner, moderators, members), and its switches. */
export function renderList(list: Payload['state']['lists'][number]) {
  const dir = listDir(list);
  const owner = list.moderators[0] ?? `postmaster@${list.address.slice(list.address.lastIndexOf('@') + 1)}`;
  const on: Record<(typeof LIST_FLAGS)[number], boolean> = {
    subonlypost: list.policy === 'members-only',
    moderated: list.policy === 'moderated',
    modonlypost: list.policy === 'announce-only',
  };
  return {
    files: [
      { path: `${dir}/control/listaddress`, content: `${list.address}\n` },
      { path: `${dir}/control/owner`, content: `${owner}\n` },
      { path: `${dir}/control/moderators`, content: lines([...list.moderators]) },
      // mlmmj reads every file of subscribers.d: one file, rewritten whole, is the member list.
      { path: `${dir}/subscribers.d/up`, content: lines([...list.members]) },
    ],
    flags: LIST_FLAGS.map((name) => ({ path: `${dir}/control/${name}`, on: on[name] })),
  };
}
