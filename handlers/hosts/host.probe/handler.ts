import { hostProbe } from '../../../queues/hosts/probe.ts';
import { defineHandler } from '../../runtime/define.ts';
import { parseFacts, probeScript } from './facts.ts';

export default defineHandler({
  op: hostProbe,
  async run({ host }, { connect, signal }) {
    const { stdout } = await connect(host).runScript(probeScript(), { signal, timeoutMs: 30_000 });
    return parseFacts(stdout);
  },
});
