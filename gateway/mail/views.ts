/** The mail API's shapes: what is sent (validated against lib/validate/mail.ts) and what is shown. */
import { Type, type TSchema } from 'typebox';
import { MAIL_ADDRESS, MAIL_ALIAS_SOURCE, MAIL_DOMAIN } from '../../lib/validate/mail.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { DKIM_SELECTOR, MailListPolicy } from '../../queues/mail/ops.ts';
import { exampleOf, JOB_EXAMPLE } from '../schemas.ts';
import { iso } from '../views.ts';
import type { MailAliasRow, MailBoxRow, MailDomainRow, MailListRow } from './store.ts';

const Status = Type.Union([Type.Literal('pending'), Type.Literal('ready')], {
  description: 'ready once the mail host applied the change (mail is delivered); pending before',
});
const Password = Type.String({ minLength: 10, maxLength: 200, description: 'sent once, stored and sent on only as a SHA-512-crypt hash' });
const QuotaMb = Type.Integer({ minimum: 1, maximum: 1_048_576, description: 'the mailbox quota in MiB (dovecot refuses mail over it)' });

export const MailDomainCreate = Type.Object(
  {
    name: Type.String({ pattern: MAIL_DOMAIN, maxLength: 253, description: 'lower-case ASCII (punycode) domain' }),
    host: Type.Optional(
      Type.String({ pattern: HOST_NAME_PATTERN, description: 'admins: the mail host (default: the one serving fewest domains)' }),
    ),
  },
  { additionalProperties: false, $id: 'MailDomainCreate', examples: [{ name: 'example.net' }] },
);

const DnsRecord = Type.Object(
  { name: Type.String(), type: Type.String(), data: Type.String() },
  { additionalProperties: false, description: 'a record the domain needs in its zone' },
);

export const MailDomainView = Type.Object(
  {
    name: Type.String(),
    owner: Type.String(),
    host: Type.String({ description: 'the mail host serving the domain' }),
    mailHost: Type.String({ description: "the host's mail name: the MX target" }),
    status: Status,
    records: Type.Array(DnsRecord, {
      description:
        "what the zone must publish for mail to reach and be trusted (MX, SPF, DMARC, and DKIM once the mail host made the domain's key)",
    }),
    recordsManaged: Type.Boolean({
      description: 'up keeps these records in your zone here (a zone made before the domain); otherwise you publish them',
    }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    $id: 'MailDomain',
    examples: [
      {
        name: 'example.net',
        owner: 'alice',
        host: 'mail1',
        mailHost: 'mail1.example.com',
        status: 'ready',
        records: [{ name: 'example.net', type: 'MX', data: '10 mail1.example.com.' }],
        recordsManaged: false,
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    ],
  },
);

export const MailBoxCreate = Type.Object(
  {
    address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254, description: 'user@domain, in one of your mail domains' }),
    password: Password,
    quotaMb: Type.Optional(QuotaMb),
    enabled: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    $id: 'MailBoxCreate',
    examples: [{ address: 'alice@example.net', password: 'correct horse battery', quotaMb: 1024 }],
  },
);

export const MailBoxEdit = Type.Object(
  { password: Type.Optional(Password), quotaMb: Type.Optional(QuotaMb), enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1, $id: 'MailBoxEdit', examples: [{ quotaMb: 2048 }] },
);

export const MailBoxView = Type.Object(
  {
    address: Type.String(),
    domain: Type.String(),
    owner: Type.String(),
    quotaMb: Type.Integer(),
    enabled: Type.Boolean(),
    status: Status,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    $id: 'MailBox',
    examples: [
      {
        address: 'alice@example.net',
        domain: 'example.net',
        owner: 'alice',
        quotaMb: 1024,
        enabled: true,
        status: 'ready',
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      },
    ],
  },
);

export const MailAliasCreate = Type.Object(
  {
    address: Type.String({
      pattern: MAIL_ALIAS_SOURCE,
      maxLength: 254,
      description: 'user@domain, or @domain: the catch-all of one of your domains',
    }),
    targets: Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), {
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
      description: 'addresses here or elsewhere; never a command, a file or an include',
    }),
  },
  {
    additionalProperties: false,
    $id: 'MailAliasCreate',
    examples: [{ address: 'info@example.net', targets: ['alice@example.net', 'bob@elsewhere.org'] }],
  },
);

export const MailAliasView = Type.Object(
  {
    address: Type.String(),
    domain: Type.String(),
    owner: Type.String(),
    catchAll: Type.Boolean(),
    targets: Type.Array(Type.String()),
    status: Status,
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    $id: 'MailAlias',
    examples: [
      {
        address: 'info@example.net',
        domain: 'example.net',
        owner: 'alice',
        catchAll: false,
        targets: ['alice@example.net'],
        status: 'ready',
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    ],
  },
);

const Policy = MailListPolicy;
const Moderators = Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), {
  maxItems: 100,
  uniqueItems: true,
  description: 'who approves posts (moderated) or alone posts (announce-only); the first is the list owner',
});

export const MailListCreate = Type.Object(
  {
    address: Type.String({ pattern: MAIL_ADDRESS, maxLength: 254, description: 'list@domain, in one of your mail domains' }),
    policy: Type.Optional(Policy),
    moderators: Type.Optional(Moderators),
  },
  {
    additionalProperties: false,
    $id: 'MailListCreate',
    examples: [{ address: 'team@example.net', policy: 'members-only' }],
  },
);

export const MailListMembers = Type.Object(
  {
    addresses: Type.Array(Type.String({ pattern: MAIL_ADDRESS, maxLength: 254 }), {
      minItems: 1,
      maxItems: 1000,
      uniqueItems: true,
      description: 'addresses here or elsewhere',
    }),
  },
  { additionalProperties: false, $id: 'MailListMembers', examples: [{ addresses: ['alice@example.net', 'bob@elsewhere.org'] }] },
);

export const MailListView = Type.Object(
  {
    address: Type.String(),
    domain: Type.String(),
    owner: Type.String(),
    policy: Policy,
    moderators: Type.Array(Type.String()),
    members: Type.Integer({ description: 'how many addresses are subscribed' }),
    status: Status,
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    $id: 'MailList',
    examples: [
      {
        address: 'team@example.net',
        domain: 'example.net',
        owner: 'alice',
        policy: 'members-only',
        moderators: [],
        members: 2,
        status: 'ready',
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    ],
  },
);

export const MailListMemberView = Type.Object(
  { address: Type.String(), subscribedAt: Type.String({ format: 'date-time' }) },
  {
    additionalProperties: false,
    $id: 'MailListMember',
    examples: [{ address: 'alice@example.net', subscribedAt: '2026-01-01T00:00:00.000Z' }],
  },
);

const change = (id: string, key: string, item: TSchema & { $id?: string }) =>
  Type.Object(
    {
      [key]: Type.Ref(item.$id!),
      jobs: Type.Array(Type.Ref('Job'), { description: "the mail host's apply: the change is served once it succeeded" }),
    },
    { additionalProperties: false, $id: id, examples: [{ [key]: exampleOf(item), jobs: [JOB_EXAMPLE] }] },
  );

export const MailDomainChange = change('MailDomainChange', 'domain', MailDomainView);
export const MailBoxChange = change('MailBoxChange', 'mailbox', MailBoxView);
export const MailAliasChange = change('MailAliasChange', 'alias', MailAliasView);

export const MailListChange = change('MailListChange', 'list', MailListView);

export const mailSchemas: TSchema[] = [
  MailListCreate,
  MailListMembers,
  MailListView,
  MailListMemberView,
  MailListChange,
  MailDomainCreate,
  MailDomainView,
  MailDomainChange,
  MailBoxCreate,
  MailBoxEdit,
  MailBoxView,
  MailBoxChange,
  MailAliasCreate,
  MailAliasView,
  MailAliasChange,
];

const statusOf = (generation: number, applied: number | null): 'pending' | 'ready' =>
  applied !== null && applied >= generation ? 'ready' : 'pending';

/** The DKIM record's name and text for a domain's public key (made on its mail host). */
export const dkimRecordName = (domain: string) => `${DKIM_SELECTOR}._domainkey.${domain}`;
export const dkimRecordText = (publicKey: string) => `v=DKIM1; k=rsa; p=${publicKey}`;

/**
 * The records a domain served by `mailHost` needs (managed records when its zone is the owner's
 * here): MX, SPF, DMARC, and DKIM once the mail host made the domain's key.
 */
export function mailDnsRecords(domain: string, mailHost: string, dkimPublicKey: string | null = null) {
  return [
    { name: domain, type: 'MX', preference: 10, exchange: `${mailHost}.` },
    { name: domain, type: 'TXT', text: 'v=spf1 mx -all' },
    { name: `_dmarc.${domain}`, type: 'TXT', text: 'v=DMARC1; p=quarantine' },
    ...(dkimPublicKey ? [{ name: dkimRecordName(domain), type: 'TXT', text: dkimRecordText(dkimPublicKey) }] : []),
  ];
}

/** The same records as a zone file shows them. */
export function mailRecords(domain: string, mailHost: string, dkimPublicKey: string | null = null) {
  return mailDnsRecords(domain, mailHost, dkimPublicKey).map((r) => ({
    name: r.name,
    type: r.type,
    data: r.type === 'MX' ? `${r.preference} ${r.exchange}` : `"${r.text}"`,
  }));
}

export function mailDomainView(
  row: MailDomainRow,
  ctx: { owner: string; host: string; mailHost: string; applied: number | null; recordsManaged: boolean },
) {
  return {
    name: row.name,
    owner: ctx.owner,
    host: ctx.host,
    mailHost: ctx.mailHost,
    status: statusOf(row.generation, ctx.applied),
    records: mailRecords(row.name, ctx.mailHost, row.dkim_public_key),
    recordsManaged: ctx.recordsManaged,
    createdAt: iso(row.created_at)!,
  };
}

export function mailBoxView(row: MailBoxRow, ctx: { owner: string; domain: string; applied: number | null }) {
  return {
    address: row.address,
    domain: ctx.domain,
    owner: ctx.owner,
    quotaMb: row.quota_mb,
    enabled: row.enabled,
    status: statusOf(row.generation, ctx.applied),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

export function mailAliasView(row: MailAliasRow, ctx: { owner: string; domain: string; applied: number | null }) {
  return {
    address: row.address,
    domain: ctx.domain,
    owner: ctx.owner,
    catchAll: row.address.startsWith('@'),
    targets: row.targets,
    status: statusOf(row.generation, ctx.applied),
    createdAt: iso(row.created_at)!,
  };
}

export function mailListView(row: MailListRow, ctx: { owner: string; domain: string; members: number; applied: number | null }) {
  return {
    address: row.address,
    domain: ctx.domain,
    owner: ctx.owner,
    policy: row.policy,
    moderators: row.moderators,
    members: ctx.members,
    status: statusOf(row.generation, ctx.applied),
    createdAt: iso(row.created_at)!,
  };
}
