/** Mail: tenants' domains, mailboxes, aliases and lists on postfix + dovecot hosts, rendered from PostgreSQL. */
import { wantedMailRecords } from './plans.ts';
import { defineDomain } from '../domain.ts';
import { mailChecks } from './health.ts';
import { mailObservers } from './observers.ts';
import { mailSetupOf, OWNED_MAIL_KINDS } from './plans.ts';
import { mailSchemas } from './views.ts';

export default defineDomain({
  name: 'mail',
  description: 'Mail domains, mailboxes, aliases and mlmmj lists on postfix + dovecot hosts.',
  names: {
    ops: ['mail.apply', 'health.check.mail-host', 'health.repair.mail-host'],
    paths: ['/v1/mail/domains', '/v1/mail/boxes', '/v1/mail/aliases', '/v1/mail/lists'],
    why: 'one operation converges a whole mail host (its maps are one rendering of every domain it serves); health operations are named health.<verb>.<resource type>',
  },
  schemas: mailSchemas,
  routes: async () => [(await import('./routes.ts')).mailRoutes],
  observers: mailObservers,
  checks: [mailChecks],
  owned: OWNED_MAIL_KINDS,
  recordManagers: [
    { kind: 'mail-domain', table: 'mail_domains', label: 'mail domain', change: 'the mail domain', wanted: wantedMailRecords },
  ],
  roles: [
    {
      role: 'mail',
      // mlmmj: mailing lists, delivered by postfix's pipe; opendkim: DKIM signing of authenticated
      // submissions, as postfix's milter (chosen over rspamd: it signs and nothing more, with no
      // Redis or web UI to run and secure).
      packages: ['postfix', 'dovecot-core', 'dovecot-imapd', 'dovecot-lmtpd', 'mlmmj', 'opendkim'],
      ports: [25, 143, 465, 587, 993],
      setup: mailSetupOf,
      // templates/mail/dovecot.conf.mustache's log_path, with auth_verbose lines for IMAP and SMTP AUTH alike.
      mailAuthLog: '/var/log/dovecot.log',
    },
  ],
});
