/**
 * Passwords become verifiers here, in the gateway, and only verifiers go further (job rows,
 * messages, the servers): the plain password is in the request, the response that shows a
 * generated one once, and nowhere else.
 *
 * PostgreSQL: a SCRAM-SHA-256 verifier as `CREATE ROLE … PASSWORD` takes it (RFC 5802/5803:
 * PBKDF2-SHA-256, 4096 iterations, a random 16-byte salt).
 * MariaDB: a mysql_native_password hash (`*` + SHA1(SHA1(password)), `IDENTIFIED BY PASSWORD`).
 * The stronger ed25519 plugin would need the server to compute the verifier from the plain
 * password (`USING PASSWORD('…')`) or up to do Ed25519 point arithmetic by hand, and is not
 * spoken by MySQL Connector/J, Python's mysqlclient/PyMySQL or PHP's mysqlnd by default;
 * mysql_native_password is what MariaDB 10.11 and every common client accept, and over the
 * TLS every connection must use, its challenge–response never shows the hash.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { DbEngine } from '../../queues/databases/ops.ts';

const SCRAM_ITERATIONS = 4096;

export function scramVerifier(password: string, salt = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function mysqlNativeHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

export const verifierFor = (engine: DbEngine, password: string): string =>
  engine === 'postgresql' ? scramVerifier(password) : mysqlNativeHash(password);

/** 24 characters from [A-Za-z2-9] without look-alikes (about 140 bits): no character any client or shell treats specially. */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(48);
  let out = '';
  for (const b of bytes) {
    if (b >= alphabet.length * 4) continue; // 57 * 4 = 228: keep the choice uniform
    out += alphabet[b % alphabet.length];
    if (out.length === 24) break;
  }
  return out.length === 24 ? out : generatePassword();
}
