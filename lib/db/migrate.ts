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

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Migrations in order; listed in code so that they run the same under tsx and in a bundle. */
const MIGRATIONS: Record<string, Migration> = {
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
};

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

/** Brings the schema up to date; returns the names of the migrations it applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource: source, tableName: 'up_migrations' })) as [number, string[]];
  return applied;
}
