/** Mail: tenants' domains, mailboxes and aliases on postfix + dovecot hosts, rendered from PostgreSQL. */
import { defineDomain } from '../domain.ts';
import { mailChecks } from './health.ts';
import { mailObservers } from './observers.ts';
import { mailSetupOf, OWNED_MAIL_KINDS } from './plans.ts';
import { mailSchemas } from './views.ts';

export default defineDomain({
  name: 'mail',
  description: 'Mail domains, mailboxes and aliases on postfix + dovecot hosts.',
  names: {
    ops: ['mail.apply', 'health.check.mail-host', 'health.repair.mail-host'],
    paths: ['/v1/mail/domains', '/v1/mail/boxes', '/v1/mail/aliases'],
    why: 'one operation converges a whole mail host (its maps are one rendering of every domain it serves); health operations are named health.<verb>.<resource type>',
  },
  schemas: mailSchemas,
  routes: async () => [(await import('./routes.ts')).mailRoutes],
  observers: mailObservers,
  checks: [mailChecks],
  owned: OWNED_MAIL_KINDS,
  roles: [
    {
      role: 'mail',
      // opendkim, mlmmj: DKIM signing and lists (not wired yet); swaks: the health checks' and tests' SMTP client.
      packages: ['postfix', 'dovecot-core', 'dovecot-imapd', 'dovecot-lmtpd'],
      ports: [25, 143, 465, 587, 993],
      setup: mailSetupOf,
    },
  ],
});
