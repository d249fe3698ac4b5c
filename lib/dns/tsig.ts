/** TSIG (RFC 8945): HMAC signatures on DNS messages, shared-secret keys as BIND's tsig-keygen makes them. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { PermanentError } from '../errors.ts';
import { CLASS_ANY, TYPE_TSIG, encodeName, normalizeName, readName, recordOffsets, u16 } from './wire.ts';

export type TsigAlgorithm = 'hmac-md5' | 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

const ALGORITHMS: Record<TsigAlgorithm, { wireName: string; hash: string }> = {
  'hmac-md5': { wireName: 'hmac-md5.sig-alg.reg.int', hash: 'md5' },
  'hmac-sha1': { wireName: 'hmac-sha1', hash: 'sha1' },
  'hmac-sha224': { wireName: 'hmac-sha224', hash: 'sha224' },
  'hmac-sha256': { wireName: 'hmac-sha256', hash: 'sha256' },
  'hmac-sha384': { wireName: 'hmac-sha384', hash: 'sha384' },
  'hmac-sha512': { wireName: 'hmac-sha512', hash: 'sha512' },
};

export const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };
const TSIG_ERROR_CAUSES: Record<string, string> = {
  BADSIG: 'wrong TSIG secret',
  BADKEY: 'unknown TSIG key (name or algorithm not configured on the server)',
  BADTIME: 'clock skew between us and the server exceeds the fudge',
  BADTRUNC: 'truncated MAC refused',
};

export interface SignOptions {
  timeSigned?: number;
  fudge?: number;
  originalId?: number;
  /** Signing a reply: the request's MAC (or, with `continuation`, the previous message's). */
  priorMac?: Buffer;
  /** RFC 8945 §5.3.1: a later message of a multi-message reply digests only prior MAC + message + timers. */
  continuation?: boolean;
  error?: number;
  otherData?: Buffer;
}

export interface TsigRecord {
  start: number;
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

export function signMessage(message: Buffer, key: TsigKey, opts: SignOptions = {}): { signed: Buffer; mac: Buffer } {
  const fields = {
    timeSigned: opts.timeSigned ?? Math.floor(Date.now() / 1000),
    fudge: opts.fudge ?? 300,
    originalId: opts.originalId ?? message.readUInt16BE(0),
    error: opts.error ?? 0,
    otherData: opts.otherData ?? Buffer.alloc(0),
  };
  const mac = digest(key, opts.priorMac, [withId(message, fields.originalId)], fields, opts.continuation ?? false);
  const rdata = Buffer.concat([
    encodeName(algorithmOf(key).wireName, { canonical: true }),
    u48(fields.timeSigned),
    u16(fields.fudge),
    u16(mac.length),
    mac,
    u16(fields.originalId),
    u16(fields.error),
    u16(fields.otherData.length),
    fields.otherData,
  ]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_TSIG, 0);
  fixed.writeUInt16BE(CLASS_ANY, 2);
  fixed.writeUInt16BE(rdata.length, 8);
  const signed = Buffer.concat([message, encodeName(key.name, { canonical: true }), fixed, rdata]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

export interface VerifyOptions {
  now?: number;
  continuation?: boolean;
  /** Messages of the same reply stream that came without TSIG since the last signed one (RFC 8945 §5.3.1). */
  unsignedBefore?: Buffer[];
}

/** Verifies a signed reply; returns its MAC (the prior MAC for the next message of a stream). */
export function verifyResponse(response: Buffer, key: TsigKey, requestMac: Buffer, opts: VerifyOptions = {}): Buffer {
  const tsig = findTsig(response);
  if (!tsig) throw invalid('the reply carries no TSIG record, so it cannot be trusted');
  const serverError = tsig.error ? (TSIG_ERRORS[tsig.error] ?? `TSIG_ERROR_${tsig.error}`) : undefined;
  if (serverError && serverError !== 'BADTIME') {
    throw new PermanentError(
      `server rejected our TSIG (${serverError}): ${TSIG_ERROR_CAUSES[serverError] ?? 'unknown cause'} (key "${key.name}")`,
      { code: serverError },
    );
  }
  if (normalizeName(tsig.keyName) !== normalizeName(key.name) || normalizeName(tsig.algorithm) !== algorithmOf(key).wireName) {
    throw invalid(`the reply is signed with key ${tsig.keyName}/${tsig.algorithm}, not ${key.name}/${key.algorithm}`);
  }
  const stripped = withId(response.subarray(0, tsig.start), tsig.originalId);
  stripped.writeUInt16BE(stripped.readUInt16BE(10) - 1, 10);
  const expected = digest(key, requestMac, [...(opts.unsignedBefore ?? []), stripped], tsig, opts.continuation ?? false);
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    throw invalid("the reply's TSIG MAC does not verify (forged or corrupted reply, or the server uses a different secret)");
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (serverError === 'BADTIME') {
    const serverTime = tsig.otherData.length === 6 ? readU48(tsig.otherData, 0) : undefined;
    throw new PermanentError(`server rejected our TSIG (BADTIME): ${TSIG_ERROR_CAUSES.BADTIME}; server time ${serverTime}, ours ${now}`, {
      code: 'BADTIME',
    });
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    throw invalid(`the reply was signed at ${tsig.timeSigned}, more than ${tsig.fudge}s away from our clock (${now})`);
  }
  return tsig.mac;
}

/** Verifies each message of a multi-message reply (AXFR) in turn; up to 99 unsigned messages may sit between signed ones. */
export function createStreamVerifier(key: TsigKey, requestMac: Buffer, opts: { now?: () => number } = {}) {
  let priorMac = requestMac;
  let unsigned: Buffer[] = [];
  let first = true;
  return {
    verify(message: Buffer): void {
      if (!first && !findTsig(message)) {
        if (unsigned.length >= 99) throw invalid('more than 99 consecutive unsigned messages in the reply stream');
        unsigned.push(message);
        return;
      }
      priorMac = verifyResponse(message, key, priorMac, { now: opts.now?.(), continuation: !first, unsignedBefore: unsigned });
      first = false;
      unsigned = [];
    },
    finish(): void {
      if (first || unsigned.length > 0) throw invalid('the reply stream did not end with a signed message');
    },
  };
}

export function findTsig(message: Buffer): TsigRecord | null {
  const offsets = recordOffsets(message);
  if (message.readUInt16BE(10) === 0 || offsets.length === 0) return null;
  try {
    return readTsig(message, offsets[offsets.length - 1]);
  } catch (error) {
    if (error instanceof RangeError)
      throw new PermanentError('malformed DNS message: truncated TSIG record', { code: 'FORMERR', cause: error });
    throw error;
  }
}

function readTsig(message: Buffer, start: number): TsigRecord | null {
  const owner = readName(message, start);
  if (message.readUInt16BE(owner.end) !== TYPE_TSIG) return null;
  const algorithm = readName(message, owner.end + 10);
  let at = algorithm.end;
  const timeSigned = readU48(message, at);
  const fudge = message.readUInt16BE(at + 6);
  const macSize = message.readUInt16BE(at + 8);
  const mac = Buffer.from(message.subarray(at + 10, at + 10 + macSize));
  at += 10 + macSize;
  const otherLength = message.readUInt16BE(at + 4);
  return {
    start,
    keyName: owner.name,
    algorithm: algorithm.name,
    timeSigned,
    fudge,
    mac,
    originalId: message.readUInt16BE(at),
    error: message.readUInt16BE(at + 2),
    otherData: Buffer.from(message.subarray(at + 6, at + 6 + otherLength)),
  };
}

function digest(
  key: TsigKey,
  priorMac: Buffer | undefined,
  messages: Buffer[],
  fields: { timeSigned: number; fudge: number; error: number; otherData: Buffer },
  timersOnly: boolean,
): Buffer {
  const hmac = createHmac(algorithmOf(key).hash, key.secret);
  if (priorMac) hmac.update(u16(priorMac.length)).update(priorMac);
  for (const message of messages) hmac.update(message);
  if (!timersOnly) {
    const classAndTtl = Buffer.alloc(6);
    classAndTtl.writeUInt16BE(CLASS_ANY, 0);
    hmac.update(encodeName(key.name, { canonical: true })).update(classAndTtl);
    hmac.update(encodeName(algorithmOf(key).wireName, { canonical: true }));
  }
  hmac.update(u48(fields.timeSigned)).update(u16(fields.fudge));
  if (!timersOnly) hmac.update(u16(fields.error)).update(u16(fields.otherData.length)).update(fields.otherData);
  return hmac.digest();
}

function algorithmOf(key: TsigKey): { wireName: string; hash: string } {
  const algorithm = ALGORITHMS[key.algorithm];
  if (!algorithm) throw new PermanentError(`unsupported TSIG algorithm "${key.algorithm}" for key "${key.name}"`, { code: 'BADKEY' });
  return algorithm;
}

function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}

function u48(value: number): Buffer {
  const buf = Buffer.alloc(6);
  buf.writeUIntBE(value, 0, 6);
  return buf;
}

function readU48(buf: Buffer, offset: number): number {
  return buf.readUIntBE(offset, 6);
}

function invalid(message: string): PermanentError {
  return new PermanentError(`TSIG verification failed: ${message}`, { code: 'TSIG_VERIFY' });
}
