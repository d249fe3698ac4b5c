/** The zone's current SOA serial, asked of the server itself (public data: an unsigned query is enough). */
import { PermanentError } from '../../../lib/errors.ts';
import { exchangeUdp, type DnsServer } from '../../../lib/dns/transport.ts';
import { CLASS_IN, HEADER_BYTES, TYPE_SOA, decodeMessage, encodeName, randomId, u16 } from '../../../lib/dns/wire.ts';

export async function soaSerial(server: DnsServer, zone: string, timeoutMs = 5_000): Promise<number> {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(randomId(), 0);
  header.writeUInt16BE(1, 4);
  const reply = decodeMessage(
    await exchangeUdp(server, Buffer.concat([header, encodeName(zone), u16(TYPE_SOA), u16(CLASS_IN)]), timeoutMs),
  );
  const soa = reply.answers?.find((answer) => answer.type === 'SOA') as { data?: { serial?: number } } | undefined;
  if (soa?.data?.serial === undefined) {
    throw new PermanentError(
      `${server.address}:${server.port} has no SOA for ${zone} (${reply.rcode}): the server does not serve the zone`,
      { code: 'NOTAUTH' },
    );
  }
  return soa.data.serial;
}
