import { checkedNetworks } from '../../../queues/databases/addresses.ts';
import { databaseUserApply } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { myApplyUser } from '../mariadb.ts';
import { pgApplyUser } from '../postgresql.ts';

/** Creates the user or sets its password and client networks, from the verifier only; never logs it. */
export default defineHandler({
  op: databaseUserApply,
  async run({ server, user, databases }, ctx) {
    const exec = ctx.connect(server.host);
    const networks = checkedNetworks(user.allowFrom ?? [], server.engine);
    const created =
      server.engine === 'postgresql'
        ? await pgApplyUser(exec, server, user.name, user.verifier, networks, ctx.signal)
        : await myApplyUser(exec, server, user.name, user.verifier, networks, databases ?? [], ctx.signal);
    ctx.log.info({ server: server.name, user: user.name, created, allowFrom: networks.map((n) => n.text) }, 'database user applied');
    return { user: user.name, created };
  },
});
