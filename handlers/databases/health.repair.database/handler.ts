import { checkedNetworks } from '../../../queues/databases/addresses.ts';
import { healthRepairDatabase } from '../../../queues/databases/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myApplyDatabase, myApplyUser } from '../mariadb.ts';
import { missingUsers, pgApplyDatabase, pgApplyUser } from '../postgresql.ts';

/** The grantees' users from their stored verifiers (re-created when gone), then database.apply itself. */
export default defineHandler({
  op: healthRepairDatabase,
  async run({ server, database, grants, users }, ctx) {
    const exec = ctx.connect(server.host);
    const recreated: string[] = [];
    for (const user of users) {
      const networks = checkedNetworks(user.allowFrom ?? [], server.engine);
      // MariaDB: the grants of re-created accounts come from database.apply below.
      const created =
        server.engine === 'postgresql'
          ? await pgApplyUser(exec, server, user.name, user.verifier, networks, ctx.signal)
          : await myApplyUser(exec, server, user.name, user.verifier, networks, [], ctx.signal);
      if (created) recreated.push(user.name);
    }
    const apply = server.engine === 'postgresql' ? pgApplyDatabase : myApplyDatabase;
    const { missing } = await apply(exec, server, database.name, grants, ctx.signal);
    missingUsers(missing);
    ctx.log.info({ server: server.name, database: database.name, recreated }, 'database repaired');
    return { database: database.name, recreated };
  },
});
