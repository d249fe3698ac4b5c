import { script, sh, type Command } from '../../../lib/exec/index.ts';
import { healthCheckDbServer } from '../../../queues/databases/health.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { fields, probe } from '../../runtime/probe.ts';
import { endpoint, tlsProbe } from '../../runtime/tls-probe.ts';
import { MARIADB_SOCKET, PG_CONTROL_ROLE, PG_SOCKET_DIR } from '../sql.ts';

type Payload = PayloadOf<typeof healthCheckDbServer>;

const PG_STATS = `SELECT 'connections ' || count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
UNION ALL SELECT 'max ' || current_setting('max_connections')
UNION ALL SELECT 'datadir ' || current_setting('data_directory')`;
const MARIADB_STATS = `SELECT 'connections', VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED'
UNION ALL SELECT 'max', @@max_connections UNION ALL SELECT 'datadir', @@datadir`;

/**
 * One round trip: the server's sessions, max_connections and data directory over the local
 * socket (`server down` when it does not answer there), the free space of that directory, and
 * the certificate served with STARTTLS on the address it listens on against the installed one.
 */
export function dbServerProbe({ server, listen, tls }: Pick<Payload, 'server' | 'listen' | 'tls'>): Command {
  const stats =
    server.engine === 'postgresql'
      ? sh`psql -X -q -A -t -h ${PG_SOCKET_DIR} -p ${server.port} -U ${PG_CONTROL_ROLE} -d postgres -c ${PG_STATS} 2>/dev/null`
      : sh`mariadb --no-defaults -u root -S ${MARIADB_SOCKET} --batch --skip-column-names -e ${MARIADB_STATS} 2>/dev/null`;
  return script(
    sh`if stats=$(${stats}); then echo server up; echo "$stats" | tr '\t' ' '; dir=$(echo "$stats" | tr '\t' ' ' | sed -n 's/^datadir //p'); df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print "disk", $4 * 1024, $2 * 1024 }'; else echo server down; fi`,
    tlsProbe('server', endpoint(listen, server.port), server.engine === 'postgresql' ? 'postgres' : 'mysql', tls.cert),
  );
}

/** The server as up set it up: answering, serving the installed certificate, sessions and disk within bounds. */
export default defineHandler({
  op: healthCheckDbServer,
  async run({ resource, server, listen, tls, limits }, { connect, signal }) {
    const exec = connect(server.host);
    const output = await probe(exec, dbServerProbe({ server, listen, tls }), resource, signal);
    if (typeof output !== 'string') return output;
    const found = fields(output);
    const where = `${server.engine} server ${server.name} on ${exec.host}`;
    const problems: Problem[] = [];
    const measurements: Record<string, number> = {};
    if (found.get('server') !== 'up') problems.push({ cause: 'server-down', message: `${where} does not answer on its local socket` });
    else {
      const connections = Number(found.get('connections'));
      const max = Number(found.get('max'));
      const [free, size] = (found.get('disk') ?? '').split(' ').map(Number);
      if (Number.isFinite(connections) && max > 0) {
        Object.assign(measurements, { connections, maxConnections: max });
        if (connections * 100 > max * limits.connectionsMaxPercent)
          problems.push({
            cause: 'connections-high',
            message: `${where} has ${connections} sessions of its ${max} (over ${limits.connectionsMaxPercent}%)`,
          });
      }
      if (size > 0 && Number.isFinite(free)) {
        Object.assign(measurements, { diskFreeBytes: free, diskBytes: size });
        if (free * 100 < size * limits.diskMinFreePercent)
          problems.push({
            cause: 'disk-low',
            message: `the data directory of ${where} has ${free} bytes free of ${size} (under ${limits.diskMinFreePercent}%)`,
          });
      }
    }
    const [served, installed] = (found.get('tls-server') ?? 'none none').split(' ');
    const at = endpoint(listen, server.port);
    if (installed === 'none')
      problems.push({ cause: 'certificate-missing', message: `no certificate is installed at ${tls.cert} on ${exec.host}` });
    if (served === 'none') problems.push({ cause: 'tls-down', message: `${where} does not answer with TLS on ${at}` });
    else if (installed !== 'none' && served !== installed)
      problems.push({ cause: 'certificate-mismatch', message: `${where} serves another certificate on ${at} than the one installed` });
    return { resource, healthy: problems.length === 0, problems, measurements };
  },
});
