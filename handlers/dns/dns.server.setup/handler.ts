import { dnsServerSetup } from '../../../queues/dns/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { loadTsigKey } from '../keys.ts';
import { prepareBind } from './bind.ts';

/** BIND on a DNS server's primary host, as the server wants it: up's config, keys and zone directory, named running. */
export default defineHandler({
  op: dnsServerSetup,
  async run({ host, bind }, { connect, signal }) {
    const changed = await prepareBind(connect(host), bind, await loadTsigKey(bind.keyName, bind.algorithm), signal);
    return { configDir: bind.configDir, changed };
  },
});
