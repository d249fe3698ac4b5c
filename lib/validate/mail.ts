/**
 * What a mail name may be. Every value that reaches a postfix map, a dovecot passwd-file or an
 * mlmmj directory passed one of these patterns first: lower-case ASCII letters, digits and
 * `.`/`-`/`_` only, so no CR/LF, whitespace, `|command`, `:include:`, `/path`, `#` or `,` can
 * ever reach a file that would act on it. Paths on the host are never built from these names
 * (Maildirs are named by ids), so a name cannot point anywhere either.
 */
import { ASCII_DOMAIN } from './web.ts';

/** A domain name, punycode, lower case. */
export const MAIL_DOMAIN = ASCII_DOMAIN;
const DOMAIN_BODY = ASCII_DOMAIN.slice(1, -1);
/** The part before `@`: 1-64 characters, starting and ending with a letter or digit, no `..`. */
const LOCAL = '[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?';
export const MAIL_LOCAL_PART = `^(?!.*\\.\\.)${LOCAL}$`;
/** user@domain. */
export const MAIL_ADDRESS = `^(?!.*\\.\\.)${LOCAL}@${DOMAIN_BODY}$`;
/** An alias's address: user@domain, or @domain for the domain's catch-all. */
export const MAIL_ALIAS_SOURCE = `^(?!.*\\.\\.)(${LOCAL})?@${DOMAIN_BODY}$`;
/** A list's name (its local part): letters, digits and hyphens, as mlmmj's directory name. */
export const MAIL_LIST_NAME = '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$';
/**
 * Who may post to a list: its members; anyone, each post held until a moderator approves it;
 * or its moderators only (an announcement list).
 */
export const MAIL_LIST_POLICIES = ['members-only', 'moderated', 'announce-only'] as const;
export type MailListPolicy = (typeof MAIL_LIST_POLICIES)[number];
/** SHA-512-crypt as lib/password-hash.ts makes it: the only form a password is ever stored or sent in. */
export const SHA512_CRYPT_HASH = '^\\$6\\$[./A-Za-z0-9]{1,16}\\$[./A-Za-z0-9]{86}$';

export const splitAddress = (address: string): { local: string; domain: string } => {
  const at = address.lastIndexOf('@');
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
};
