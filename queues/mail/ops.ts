/**
 * Mail hosts (role `mail`): postfix delivers the virtual domains over LMTP to dovecot, which
 * serves IMAP; both are rendered from PostgreSQL. One operation converges a host: mail.apply
 * carries the host's whole mail state (domains, mailboxes with password hashes only, aliases)
 * at a generation, and the handler writes the configuration and the maps atomically.
 */
import { Type } from 'typebox';
import { BASE_DIR } from '../../lib/validate/web.ts';
import { MAIL_ADDRESS, MAIL_ALIAS_SOURCE, MAIL_DOMAIN, SHA512_CRYPT_HASH } from '../../lib/validate/mail.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { hostName } from '../tenant-view.ts';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

/** How up's postfix and dovecot run on one mail host. */
export const MailLayout = Type.Object(
  {
    hostname: Type.String({ pattern: MAIL_DOMAIN, maxLength: 253, description: "postfix's myhostname, the banner's name" }),
    vmailRoot: Type.String({ pattern: BASE_DIR, maxLength: 256, description: 'Maildirs live at <vmailRoot>/<domain id>/<mailbox id>' }),
    vmailUid: Type.Integer({ minimum: 1000, maximum: 60000, description: 'the one uid (and gid) owning every Maildir' }),
    tlsDir: Type.String({
      pattern: BASE_DIR,
      maxLength: 256,
      description: 'service certificates: <tlsDir>/{postfix,dovecot}/{fullchain,privkey}.pem',
    }),
    ports: Type.Object({ smtp: Port, submission: Port, smtps: Port, imap: Port, imaps: Port }, { additionalProperties: false }),
  },
  { additionalProperties: false, $id: 'MailLayout' },
);

const Id = Type.String({ pattern: UUID_PATTERN });

/**
 * The DKIM selector of every domain's key: one key per domain for its life (rotation is not
 * built), so an apply needs no state to pick it and stays idempotent; a rotation would publish
 * `up2` beside `up1` before retiring it.
 */
export const DKIM_SELECTOR = 'up1';
/** A DKIM public key as its TXT record's p= carries it: base64 of the DER SubjectPublicKeyInfo. */
export const DKIM_PUBLIC_KEY = '^[A-Za-z0-9+/]{100,2000}={0,2}$';

/** lib/validate/mail.ts's MAIL_LIST_POLICIES, as a schema. */
export const MailListPolicy = Type.Union([Type.Literal('members-only'), Type.Literal('moderated'), Type.Literal('announce-only')], {
  description: 'members-only: only members post; moderated: a moderator approves each post; announce-only: only moderators post',
});

export const MailState = Type.Object(
  {
    domains: Type.Array(
      Type.Object(
        {
          id: Id,
          name: Type.String({ pattern: MAIL_DOMAIN, maxLength: 253 }),
          dkimKnown: Type.Optional(
            Type.Boolean({ description: 'the gateway holds the public key: the handler reports it only when it makes a new one' }),
          ),
        },
        { additionalProperties: false },
      ),
      {
        maxItems: 100_000,
      },
    ),
    boxes: Type.Array(
      Type.Object(
        {
          id: Id,
          domainId: Id,
          address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }),
          hash: Type.String({ pattern: SHA512_CRYPT_HASH, description: 'SHA-512-crypt; the password itself never travels' }),
          quotaMb: Type.Integer({ minimum: 1, maximum: 1_048_576 }),
          enabled: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { maxItems: 200_000 },
    ),
    aliases: Type.Array(
      Type.Object(
        {
          source: Type.String({ pattern: MAIL_ALIAS_SOURCE, maxLength: 254 }),
          targets: Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), { minItems: 1, maxItems: 100 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 200_000 },
    ),
    lists: Type.Array(
      Type.Object(
        {
          id: Id,
          address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }),
          policy: MailListPolicy,
          moderators: Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), { maxItems: 100 }),
          members: Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), { maxItems: 100_000 }),
        },
        { additionalProperties: false, description: 'an mlmmj list: its spool is <spool>/<id>, never named after the list' },
      ),
      { maxItems: 100_000 },
    ),
  },
  { additionalProperties: false, $id: 'MailState' },
);

export const mailApply = defineOperation({
  name: 'mail.apply',
  summary:
    "Converge one mail host: postfix, dovecot and opendkim configuration, TLS, each domain's DKIM key (made on the host), and the maps of every domain, mailbox, alias and list it serves.",
  payload: Type.Object(
    { host: HostRef, layout: MailLayout, generation: Type.Integer({ minimum: 1 }), state: MailState },
    { additionalProperties: false, $id: 'MailApplyPayload' },
  ),
  result: Type.Object(
    {
      host: Type.String(),
      generation: Type.Integer(),
      changed: Type.Array(Type.String(), { description: 'the files that changed' }),
      started: Type.Array(Type.String(), { description: 'the daemons that were not running and were started' }),
      placeholderCertificate: Type.Boolean({ description: 'no service certificate was installed: a self-signed one stands in' }),
      dkim: Type.Optional(
        Type.Array(
          Type.Object(
            {
              domainId: Id,
              selector: Type.String({ pattern: '^[a-z0-9-]{1,63}$' }),
              publicKey: Type.String({ pattern: DKIM_PUBLIC_KEY }),
            },
            { additionalProperties: false },
          ),
          {
            description:
              'the public keys of domains whose key was made now or the gateway does not hold (the private key never leaves the host)',
          },
        ),
      ),
    },
    { additionalProperties: false, $id: 'MailApplyResult' },
  ),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 120_000,
  concurrency: 4,
  // The state is every tenant's on the host: a user sees only which host and generation.
  tenantView: ({ host, generation }) => ({ host: hostName(host), generation }),
});
