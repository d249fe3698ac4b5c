import { databaseDelete } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myDeleteDatabase } from '../mariadb.ts';
import { pgDeleteDatabase } from '../postgresql.ts';

/** Drops the database (its sessions closed) and what only it needed (PostgreSQL: its owner role; MariaDB: its grants). */
export default defineHandler({
  op: databaseDelete,
  async run({ server, database }, ctx) {
    const exec = ctx.connect(server.host);
    const dropped =
      server.engine === 'postgresql'
        ? await pgDeleteDatabase(exec, server, database.name, ctx.signal)
        : await myDeleteDatabase(exec, server, database.name, ctx.signal);
    ctx.log.info({ server: server.name, database: database.name, dropped }, 'database deleted');
    return { database: database.name, dropped };
  },
});
