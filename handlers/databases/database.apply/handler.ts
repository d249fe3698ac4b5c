import { databaseApply } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myApplyDatabase } from '../mariadb.ts';
import { missingUsers, pgApplyDatabase } from '../postgresql.ts';

/** The database exists, only its grantees may connect, and each has exactly its stored access. */
export default defineHandler({
  op: databaseApply,
  async run({ server, database, grants }, ctx) {
    const exec = ctx.connect(server.host);
    const apply = server.engine === 'postgresql' ? pgApplyDatabase : myApplyDatabase;
    const { created, missing } = await apply(exec, server, database.name, grants, ctx.signal);
    ctx.log.info({ server: server.name, database: database.name, created, grants: grants.length, missing }, 'database applied');
    // The grants that could be made are made; the others wait for their users' jobs (a retry).
    missingUsers(missing);
    return { database: database.name, created, grants: grants.length };
  },
});
