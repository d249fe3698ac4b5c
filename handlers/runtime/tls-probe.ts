import { sh, type Command } from '../../lib/exec/index.ts';

/** The protocols whose STARTTLS `openssl s_client` speaks that up's checks need. */
export type Starttls = 'smtp' | 'postgres' | 'mysql';

/** `host:port` as s_client wants it (an IPv6 address in brackets). */
export const endpoint = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * One line `tls-<name> <served> <installed>`: the SHA-256 fingerprints of the certificate served
 * at `connect` (after STARTTLS when given) and of the one installed at `installed`; `none` for
 * either that could not be read (nothing answered with TLS, no file).
 */
export function tlsProbe(name: string, connect: string, starttls: Starttls | null, installed: string): Command {
  const client = starttls
    ? sh`timeout 10 openssl s_client -starttls ${starttls} -connect ${connect} </dev/null 2>/dev/null`
    : sh`timeout 10 openssl s_client -connect ${connect} </dev/null 2>/dev/null`;
  return sh`served=$(${client} | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2); want=$(openssl x509 -in ${installed} -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2); [ -n "$served" ] || served=none; [ -n "$want" ] || want=none; echo ${`tls-${name}`} "$served" "$want"`;
}
