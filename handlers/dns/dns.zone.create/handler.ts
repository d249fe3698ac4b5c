import { sh } from '../../../lib/exec/index.ts';
import { dnsZoneCreate } from '../../../queues/dns/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { loadTsigKey } from '../keys.ts';
import { soaSerial } from '../dns.records.apply/soa-serial.ts';
import { BIND_LOCK, rndcIdempotent, zoneConfig, zoneFilePath, zoneFileText, zoneLoaded } from './rndc.ts';

export default defineHandler({
  op: dnsZoneCreate,
  async run({ zone, server, records }, { connect, signal, log }) {
    // The key must be there before the zone is: a zone nobody can update is no use.
    await loadTsigKey(server.keyName, server.algorithm);
    const host = connect(server.primary);
    const created = await host.withLock(BIND_LOCK, async () => {
      // Never rewrite the file of a loaded zone: its journal would no longer match.
      if (await zoneLoaded(host, server, zone, signal)) return false;
      const file = zoneFilePath(server, zone);
      await host.putFile(file, zoneFileText(server, zone, Math.floor(Date.now() / 1000), records), { mode: 0o644 });
      await host.run(sh`named-checkzone -q ${zone} ${file}`, { signal });
      return rndcIdempotent(host, sh`rndc -c ${server.rndcConf} addzone ${zone} ${zoneConfig(server, zone)}`, /already exists/, signal);
    });
    log.info({ zone, created }, created ? 'zone added' : 'zone was already there');
    return { zone, created, serial: await soaSerial(server, zone) };
  },
});
