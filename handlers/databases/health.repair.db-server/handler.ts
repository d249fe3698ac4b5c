import { healthRepairDbServer } from '../../../queues/databases/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { reloadTls, setupMariadb, setupPostgresql } from '../setup.ts';

/** database.server.setup's work (configuration, control account, started), then the installed certificate loaded. */
export default defineHandler({
  op: healthRepairDbServer,
  async run({ server, listen, tls }, ctx) {
    const exec = ctx.connect(server.host);
    const done =
      server.engine === 'postgresql' ? await setupPostgresql(exec, server, listen, tls) : await setupMariadb(exec, server, listen, tls);
    // A server that was (re)started just now read the certificate; one left running may serve an older one.
    if (!done.changed.some((c) => c === 'started' || c === 'restarted')) {
      await reloadTls(exec, server);
      done.changed.push('certificate reloaded');
    }
    ctx.log.info({ server: server.name, engine: server.engine, changed: done.changed }, 'database server repaired');
    return { server: server.name, ...done };
  },
});
