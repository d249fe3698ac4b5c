import type { Knex } from 'knex';
import * as jobs from './migrations/001-jobs.ts';
import * as usersHosts from './migrations/002-users-hosts.ts';
import * as tenancy from './migrations/004-tenancy.ts';
import * as dns from './migrations/005-dns.ts';
import * as web from './migrations/006-web.ts';
import * as health from './migrations/007-health.ts';
import * as certificates from './migrations/008-certificates.ts';
import * as dnsManaged from './migrations/009-dns-managed.ts';
import * as healthRepair from './migrations/010-health-repair.ts';
import * as alarmMail from './migrations/011-alarm-mail.ts';
import * as jobOutcome from './migrations/012-job-outcome.ts';
import * as webIsolation from './migrations/014-web-isolation.ts';
import * as webContent from './migrations/015-web-content.ts';
import * as jobResource from './migrations/016-job-resource.ts';
import * as jobRuns from './migrations/017-job-runs.ts';
import * as deadLetterBytes from './migrations/018-dead-letter-bytes.ts';
import * as auditImpersonator from './migrations/019-audit-impersonator.ts';
import * as jobCorrelation from './migrations/020-job-correlation.ts';
import * as dnsRecordManagers from './migrations/021-dns-record-managers.ts';
import * as containers from './migrations/022-containers.ts';
import * as databases from './migrations/023-databases.ts';
import * as mail from './migrations/024-mail.ts';
import * as databaseUserAddresses from './migrations/025-database-user-addresses.ts';
import * as mailLists from './migrations/026-mail-lists.ts';
import * as apps from './migrations/027-apps.ts';
import * as mailDkim from './migrations/028-mail-dkim.ts';
import * as secrets from './migrations/029-secrets.ts';
import * as appAttachments from './migrations/030-app-attachments.ts';
import { withoutTimeouts } from './connect.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Migrations in order; listed in code so that they run the same under tsx and in a bundle. */
export const MIGRATIONS: Record<string, Migration> = {
  '001-jobs': jobs,
  '002-users-hosts': usersHosts,
  '004-tenancy': tenancy,
  '005-dns': dns,
  '006-web': web,
  '007-health': health,
  '008-certificates': certificates,
  '009-dns-managed': dnsManaged,
  '010-health-repair': healthRepair,
  '011-alarm-mail': alarmMail,
  '012-job-outcome': jobOutcome,
  '014-web-isolation': webIsolation,
  '015-web-content': webContent,
  '016-job-resource': jobResource,
  '017-job-runs': jobRuns,
  '018-dead-letter-bytes': deadLetterBytes,
  '019-audit-impersonator': auditImpersonator,
  '020-job-correlation': jobCorrelation,
  '021-dns-record-managers': dnsRecordManagers,
  '022-containers': containers,
  '023-databases': databases,
  '024-mail': mail,
  '025-database-user-addresses': databaseUserAddresses,
  '026-mail-lists': mailLists,
  '027-apps': apps,
  '028-mail-dkim': mailDkim,
  '029-secrets': secrets,
  '030-app-attachments': appAttachments,
};

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

/** Brings the schema up to date; returns the names of the migrations it applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  // A migration may rewrite a table: longer than any request may wait for a statement.
  const [, applied] = (await withoutTimeouts(knex, (k) => k.migrate.latest({ migrationSource: source, tableName: 'up_migrations' }))) as [
    number,
    string[],
  ];
  return applied;
}
