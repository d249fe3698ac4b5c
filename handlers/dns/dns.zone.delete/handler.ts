import { sh } from '../../../lib/exec/index.ts';
import { dnsZoneDelete } from '../../../queues/dns/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { BIND_LOCK, rndcIdempotent } from '../dns.zone.create/rndc.ts';

export default defineHandler({
  op: dnsZoneDelete,
  async run({ zone, server }, { connect, signal }) {
    const host = connect(server.primary);
    // -clean removes the zone file and journal too, so creating the zone again starts afresh.
    const deleted = await host.withLock(BIND_LOCK, () =>
      rndcIdempotent(host, sh`rndc -c ${server.rndcConf} delzone -clean ${zone}`, /not found|no matching zone/, signal),
    );
    return { zone, deleted };
  },
});
