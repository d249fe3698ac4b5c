/** One DNS exchange over UDP, or a stream of replies over TCP (2-byte length framing, RFC 1035 §4.2.2). */
import dgram from 'node:dgram';
import net from 'node:net';
import { RetryableError } from '../errors.ts';
import { FLAG_QR, HEADER_BYTES, u16 } from './wire.ts';

export interface DnsServer {
  address: string;
  port: number;
}

export function exchangeUdp(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
    const id = message.readUInt16BE(0);
    let settled = false;
    const settle = (error: Error | null, reply?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(() => settle(timeout(server, 'udp', timeoutMs)), timeoutMs);
    socket.on('message', (reply, from) => {
      // Strays and spoofing attempts must not end the wait: only a reply to our ID from the server counts.
      const fromServer = from.port === server.port && (!net.isIP(server.address) || from.address === server.address);
      if (!fromServer || reply.length < HEADER_BYTES || reply.readUInt16BE(0) !== id || !(reply.readUInt16BE(2) & FLAG_QR)) return;
      settle(null, reply);
    });
    socket.on('error', (error) => settle(networkError(server, 'udp', error)));
    socket.send(message, server.port, server.address, (error) => {
      if (error) settle(networkError(server, 'udp', error));
    });
  });
}

/**
 * Sends one message over TCP and hands each reply to `onReply` until it returns true (done).
 * `timeoutMs` bounds the silence between replies, so a long zone transfer is not cut off while it flows.
 */
export function exchangeTcp(server: DnsServer, message: Buffer, timeoutMs: number, onReply: (reply: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.address, port: server.port });
    let pending = Buffer.alloc(0);
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => settle(timeout(server, 'tcp', timeoutMs)));
    socket.on('connect', () => socket.write(Buffer.concat([u16(message.length), message])));
    socket.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (!settled && pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const reply = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + reply.length);
        try {
          if (onReply(reply)) settle(null);
        } catch (error) {
          settle(error as Error);
        }
      }
    });
    socket.on('error', (error) => settle(networkError(server, 'tcp', error)));
    socket.on('close', () =>
      settle(
        new RetryableError(`DNS server ${where(server)} closed the TCP connection before the reply was complete`, {
          code: 'CONNECTION_CLOSED',
        }),
      ),
    );
  });
}

function timeout(server: DnsServer, protocol: string, timeoutMs: number): RetryableError {
  return new RetryableError(`no reply from DNS server ${where(server)} over ${protocol} within ${timeoutMs} ms`, { code: 'TIMEOUT' });
}

function networkError(server: DnsServer, protocol: string, error: Error): RetryableError {
  const code = (error as NodeJS.ErrnoException).code ?? 'NETWORK';
  return new RetryableError(`DNS server ${where(server)} over ${protocol}: ${error.message}`, { code, cause: error });
}

function where(server: DnsServer): string {
  return net.isIPv6(server.address) ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
}
