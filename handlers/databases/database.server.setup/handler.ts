import { dbServerSetup } from '../../../queues/databases/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { setupMariadb, setupPostgresql } from '../setup.ts';

/** A database server as up wants it on its host: listening, TLS required off the host, up's control account, running. */
export default defineHandler({
  op: dbServerSetup,
  async run({ server, listen, tls }, ctx) {
    const exec = ctx.connect(server.host);
    const done =
      server.engine === 'postgresql' ? await setupPostgresql(exec, server, listen, tls) : await setupMariadb(exec, server, listen, tls);
    ctx.log.info({ server: server.name, engine: server.engine, changed: done.changed }, 'database server set up');
    return { server: server.name, ...done };
  },
});
