import { databaseUserApply } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myApplyUser } from '../mariadb.ts';
import { pgApplyUser } from '../postgresql.ts';

/** Creates the user or sets its password, from the verifier only; never logs it. */
export default defineHandler({
  op: databaseUserApply,
  async run({ server, user }, ctx) {
    const exec = ctx.connect(server.host);
    const created =
      server.engine === 'postgresql'
        ? await pgApplyUser(exec, server, user.name, user.verifier, ctx.signal)
        : await myApplyUser(exec, server, user.name, user.verifier, ctx.signal);
    ctx.log.info({ server: server.name, user: user.name, created }, 'database user applied');
    return { user: user.name, created };
  },
});
