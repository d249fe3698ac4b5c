/** Databases: servers the admin registers; tenants' PostgreSQL and MariaDB databases and users, paired as they like. */
import { defineDomain } from '../domain.ts';
import { databaseChecks } from './health.ts';
import { databaseObservers } from './observers.ts';
import { OWNED_DATABASE_KIND, OWNED_DATABASE_USER_KIND, setupOf } from './plans.ts';
import { dbServerChecks } from './server-health.ts';
import { databaseSchemas } from './views.ts';

export default defineDomain({
  name: 'databases',
  description: 'PostgreSQL and MariaDB servers (admin); tenants’ databases and database users, and which user may use which database.',
  names: {
    ops: ['database.*', 'health.check.database', 'health.repair.database', 'health.check.db-server', 'health.repair.db-server'],
    paths: ['/v1/db-servers', '/v1/database-users'],
    why: 'operations are resource.verb in the singular; servers (admin) and database users are resources of their own beside databases, with their own paths and top-level commands (up db-servers, up database-users)',
  },
  schemas: databaseSchemas,
  routes: async () => [(await import('./routes.ts')).databaseRoutes],
  observers: databaseObservers,
  unobserved: {
    'database.server.setup': 'the server is set up; the job row says when and what changed',
    'database.delete': 'the row went when the deletion was asked for',
    'database.user.delete': 'the row went when the deletion was asked for',
    'health.repair.database': 'the next check sees what the repair did',
    'health.repair.db-server': 'the next check sees what the repair did; the job row says what changed',
    'database.dump': "the dump is the job's result (its sha256, read back from the content store); nothing is stored on the row",
    'database.import': 'the data went into the database; the job row says how much and the first error lines',
  },
  checks: [databaseChecks, dbServerChecks],
  owned: [OWNED_DATABASE_KIND, OWNED_DATABASE_USER_KIND],
  roles: [
    { role: 'db-postgresql', packages: ['postgresql', 'postgresql-client'], ports: [5432], setup: setupOf('postgresql') },
    { role: 'db-mariadb', packages: ['mariadb-server', 'mariadb-client'], ports: [3306], setup: setupOf('mariadb') },
  ],
});
