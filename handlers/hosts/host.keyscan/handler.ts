import { fetchHostKey, SshExecutor, TransientExecError } from '../../../lib/exec/index.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { hostKeyscan } from '../../../queues/hosts/keyscan.ts';
import { defineHandler } from '../../runtime/define.ts';
import { offeredHostKey } from './offered-key.ts';

const KEYSCAN_TIMEOUT_MS = 10_000;

export default defineHandler({
  op: hostKeyscan,
  async run({ address, port, jump }, { connect }) {
    if (!jump) return { hostKeySha256: await fetchHostKey(address, port, KEYSCAN_TIMEOUT_MS) };
    // Through the jump host: a tunnel from its pooled connection, then a handshake that stops
    // at the host key, exactly as a direct keyscan does.
    const executor = connect(jump);
    if (!(executor instanceof SshExecutor)) throw new PermanentError(`jump host ${jump.name} is not reached over SSH`);
    const tunnel = await executor.pool.openTunnel(address, port);
    try {
      return { hostKeySha256: await offeredHostKey(tunnel.stream, KEYSCAN_TIMEOUT_MS) };
    } catch (error) {
      throw new TransientExecError(address, 'CONNECT_FAILED', `cannot fetch host key from ${address}:${port} through ${jump.name}`, {
        cause: error,
      });
    } finally {
      tunnel.release();
    }
  },
});
