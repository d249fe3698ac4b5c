/** Talking to an authoritative server: signed RFC 2136 updates and signed zone transfers, with replies verified. */
import { PermanentError, RetryableError } from '../errors.ts';
import { presentRdata } from './records.ts';
import { TSIG_ERRORS, createStreamVerifier, findTsig, signMessage, verifyResponse } from './tsig.ts';
import type { TsigKey } from './tsig.ts';
import { exchangeTcp, exchangeUdp } from './transport.ts';
import type { DnsServer } from './transport.ts';
import {
  CLASS_IN,
  FLAG_QR,
  FLAG_TC,
  HEADER_BYTES,
  OPCODE_UPDATE,
  TYPE_AXFR,
  decodeMessage,
  encodeName,
  randomId,
  rcodeName,
  readName,
  u16,
} from './wire.ts';

export type { DnsServer } from './transport.ts';

export interface ExchangeOptions {
  timeoutMs?: number;
}
export interface ZoneRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: unknown;
  text: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
const UDP_LIMIT = 512;
const RCODE_REFUSED = 5;

const RCODE_MEANINGS: Record<string, string> = {
  FORMERR: 'the server could not parse the message',
  SERVFAIL: 'the server failed internally',
  NXDOMAIN: 'a name required to be in use is not (prerequisite failed)',
  NOTIMP: 'the server does not implement this operation',
  REFUSED: 'the server refused (unsigned request, or the key is not allowed to do this)',
  YXDOMAIN: 'a name required not to be in use is in use (prerequisite failed)',
  YXRRSET: 'an RRset required not to exist exists (prerequisite failed)',
  NXRRSET: 'an RRset required to exist does not (prerequisite failed)',
  NOTAUTH: 'the server is not authoritative for the zone',
  NOTZONE: 'a name in the update lies outside the zone',
};

/**
 * REFUSED to a signed UPDATE, told apart by the reply: a reply signed with our key (verified)
 * comes from a server that knows the key, so what it refused is the change itself: BIND's
 * integrity checks (an MX whose in-zone target has no address, an MX pointing at a CNAME) or
 * an update policy that does not grant this name or type. Unsigned, the key was not accepted.
 */
const REFUSED_MEANINGS = {
  unsigned: 'the server refused the unsigned request',
  keyRejected: 'the server refused and did not sign its reply: it does not accept the key, or allows no updates of this zone',
  change:
    'the server accepted the key (its reply is signed) but refused the change: an integrity check (an MX whose in-zone target has no A or AAAA record, or is a CNAME) or an update policy that does not grant this name or type',
};

/**
 * Sends an UPDATE built by `buildUpdate`, signed with `key` (`null` sends it unsigned, which servers
 * should refuse). Resolves on NOERROR with a verified signature; otherwise throws a RetryableError
 * (timeouts, network errors, SERVFAIL) or a PermanentError whose `code` names the RCODE.
 */
export async function sendUpdate(
  server: DnsServer,
  message: Buffer,
  key: TsigKey | null,
  opts: ExchangeOptions = {},
): Promise<{ transport: 'udp' | 'tcp' }> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { signed, mac } = key ? signMessage(message, key) : { signed: message, mac: null };
  let transport: 'udp' | 'tcp' = signed.length > UDP_LIMIT ? 'tcp' : 'udp';
  let reply = transport === 'udp' ? await exchangeUdp(server, signed, timeoutMs) : null;
  if (!reply || reply.readUInt16BE(2) & FLAG_TC) {
    transport = 'tcp';
    reply = await exchangeTcpOnce(server, signed, timeoutMs);
  }
  const context = `DNS update of zone ${readName(message, HEADER_BYTES).name}`;
  checkReply(reply, message.readUInt16BE(0), OPCODE_UPDATE, context);
  const rcode = reply.readUInt16BE(2) & 0xf;
  if (key && mac) verifySigned(reply, rcode, () => verifyResponse(reply, key, mac), context);
  // verifySigned has thrown unless a signed error reply carries our key's valid signature.
  const refused = !key ? 'unsigned' : findTsig(reply) ? 'change' : 'keyRejected';
  throwForRcode(rcode, context, rcode === RCODE_REFUSED ? REFUSED_MEANINGS[refused] : undefined);
  return { transport };
}

/** Transfers the zone over TCP (signed with `key`); returns its records without the closing SOA. */
export async function axfr(server: DnsServer, zone: string, key: TsigKey | null, opts: ExchangeOptions = {}): Promise<ZoneRecord[]> {
  const id = randomId();
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4);
  const query = Buffer.concat([header, encodeName(zone), u16(TYPE_AXFR), u16(CLASS_IN)]);
  const { signed, mac } = key ? signMessage(query, key) : { signed: query, mac: null };
  const verifier = key && mac ? createStreamVerifier(key, mac) : null;
  const context = `zone transfer of ${zone}`;
  const records: ZoneRecord[] = [];
  let soaSeen = 0;
  await exchangeTcp(server, signed, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, (reply) => {
    checkReply(reply, id, 0, context);
    const rcode = reply.readUInt16BE(2) & 0xf;
    if (verifier) verifySigned(reply, rcode, () => verifier.verify(reply), context);
    throwForRcode(rcode, context);
    for (const answer of decodeMessage(reply).answers ?? []) {
      if (records.length === 0 && answer.type !== 'SOA')
        throw new PermanentError(`${context}: reply does not start with the SOA`, { code: 'FORMERR' });
      if (answer.type === 'SOA') soaSeen += 1;
      const { name, type, ttl = 0, class: klass = 'IN' } = answer as { name: string; type: string; ttl?: number; class?: string };
      const data = (answer as { data?: unknown }).data;
      records.push({ name, type, class: klass, ttl, data, text: presentRdata(type, data) });
    }
    const done = soaSeen >= 2;
    if (done) verifier?.finish();
    return done;
  });
  records.pop();
  return records;
}

async function exchangeTcpOnce(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const replies: Buffer[] = [];
  await exchangeTcp(server, message, timeoutMs, (reply) => replies.push(reply) > 0);
  return replies[0];
}

function checkReply(reply: Buffer, id: number, opcode: number, context: string): void {
  const flags = reply.length >= HEADER_BYTES ? reply.readUInt16BE(2) : 0;
  if (reply.length < HEADER_BYTES || reply.readUInt16BE(0) !== id || !(flags & FLAG_QR) || ((flags >> 11) & 0xf) !== opcode) {
    throw new PermanentError(`${context}: the server's reply does not answer our request`, { code: 'FORMERR' });
  }
}

/**
 * A success must carry a valid signature. Error replies may come unsigned (BADSIG/BADKEY cannot be
 * signed; REFUSED for an unknown client often is not); those are reported by RCODE.
 */
function verifySigned(reply: Buffer, rcode: number, verify: () => void, context: string): void {
  if (rcode !== 0 && !findTsig(reply)) return;
  try {
    verify();
  } catch (error) {
    // The server's TSIG error (BADSIG, BADKEY, ...) explains the RCODE (NOTAUTH), which stays the code.
    const code = (error as { code?: string }).code ?? '';
    if (rcode !== 0 && (Object.values(TSIG_ERRORS).includes(code) || code.startsWith('TSIG_ERROR_'))) {
      throw new PermanentError(`${context} failed: ${rcodeName(rcode)}, ${(error as Error).message}`, {
        code: rcodeName(rcode),
        cause: error,
      });
    }
    throw error;
  }
}

function throwForRcode(rcode: number, context: string, meaning?: string): void {
  if (rcode === 0) return;
  const name = rcodeName(rcode);
  const message = `${context} failed: ${name}: ${meaning ?? RCODE_MEANINGS[name] ?? 'unexpected response code'}`;
  if (name === 'SERVFAIL') throw new RetryableError(message, { code: name });
  throw new PermanentError(message, { code: name });
}
