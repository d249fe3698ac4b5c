import { databaseUserDelete } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myDeleteUser } from '../mariadb.ts';
import { pgDeleteUser } from '../postgresql.ts';

/** Drops the user: its privileges first, its sessions closed. */
export default defineHandler({
  op: databaseUserDelete,
  async run({ server, user, databases }, ctx) {
    const exec = ctx.connect(server.host);
    const dropped =
      server.engine === 'postgresql'
        ? await pgDeleteUser(exec, server, user.name, databases, ctx.signal)
        : await myDeleteUser(exec, server, user.name, ctx.signal);
    ctx.log.info({ server: server.name, user: user.name, dropped }, 'database user deleted');
    return { user: user.name, dropped };
  },
});
