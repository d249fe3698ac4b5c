/**
 * The files a mail host's state becomes: postfix hash maps (written beside the live one,
 * `postmap`ped, and renamed over it, so postfix never reads half a map and needs no reload:
 * its daemons notice a changed map and reopen it), and dovecot's passwd-file (renamed into
 * place; dovecot rereads it when it changes). Every value passed the payload's strict patterns
 * (lib/validate/mail.ts); Maildir paths are made of ids, never of names.
 */
import type { PayloadOf } from '../../queues/operation.ts';
import type { mailApply } from '../../queues/mail/ops.ts';

type Payload = PayloadOf<typeof mailApply>;

export const MAPS_DIR = '/etc/postfix/up';
export const USERS_FILE = '/etc/dovecot/up-users';
export const GENERATION_FILE = `${MAPS_DIR}/generation`;
/** `sha256sum -c` input: every file mail.apply wrote, as it wrote it. */
export const SUMS_FILE = `${MAPS_DIR}/applied.sha256`;
export const DOVECOT_PID = '/run/dovecot/master.pid';

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
      ...state.aliases.map((a) => `${a.source} ${a.targets.join(', ')}`),
    ]),
    users: lines(
      enabled.map(
        (b) => `${b.address}:{SHA512-CRYPT}${b.hash}::::${homeOf(layout.vmailRoot, b)}::userdb_quota_rule=*:storage=${b.quotaMb}M`,
      ),
    ),
  };
}
