import type { Duplex } from 'node:stream';
import { Client, fingerprintSha256 } from '../../../lib/exec/ssh-connect.ts';

/**
 * The fingerprint of the key a host offers over an already open socket (a tunnel), without
 * authenticating: the handshake is refused as soon as the key is seen.
 */
export async function offeredHostKey(sock: Duplex, timeoutMs: number): Promise<string> {
  const client = new Client();
  let offered: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('error', (error) => (offered ? resolve() : reject(error)));
      client.on('close', () => (offered ? resolve() : reject(new Error('the host closed the connection before offering a key'))));
      client.connect({
        sock,
        username: 'fetch-host-key',
        readyTimeout: timeoutMs,
        hostVerifier: (key: Buffer) => {
          offered = fingerprintSha256(key);
          return false;
        },
      });
    });
  } finally {
    client.end();
  }
  return offered!;
}
