/**
 * Pure readers of what the security probe found on a host: the auth log's failed logins per
 * source, the listening sockets, the unsafe files. Each has a unit test.
 */

/** `Failed publickey for root from 10.0.0.1 port 4242 ssh2…`, `Invalid user admin from 10.0.0.1 port 4242`. */
const FAILED = /(?:Failed \S+ for (?:invalid user )?\S* ?from|Invalid user \S* ?from) ([0-9a-fA-F.:]+) port \d+/;
const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\s/;
const SYSLOG = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\s/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * When a log line was written, in ms since the epoch; null when the line carries no time
 * (sshd -E files). Syslog stamps have no year or zone: the host's now and offset give them.
 */
export function lineTime(line: string, hostNow: Date, hostOffsetMinutes: number): number | null {
  const iso = ISO.exec(line);
  if (iso) return Date.parse(iso[1].replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  const s = SYSLOG.exec(line);
  if (!s) return null;
  const month = MONTHS.indexOf(s[1]);
  if (month < 0) return null;
  let year = hostNow.getUTCFullYear();
  const at = (y: number) => Date.UTC(y, month, Number(s[2]), Number(s[3]), Number(s[4]), Number(s[5])) - hostOffsetMinutes * 60_000;
  if (at(year) > hostNow.getTime() + 86_400_000) year -= 1; // December's lines read in January
  return at(year);
}

/** Failed logins per source address within the window (lines without a time all count). */
export function failedLoginsBySource(
  lines: string[],
  hostNow: Date,
  hostOffsetMinutes: number,
  windowMinutes: number,
): Map<string, number> {
  const since = hostNow.getTime() - windowMinutes * 60_000;
  const counts = new Map<string, number>();
  for (const line of lines) {
    const source = FAILED.exec(line)?.[1];
    if (!source) continue;
    const at = lineTime(line, hostNow, hostOffsetMinutes);
    if (at !== null && at < since) continue;
    counts.set(source, (counts.get(source) ?? 0) + 1);
  }
  return counts;
}

/**
 * dovecot's `auth_verbose` lines, for IMAP logins and postfix's SASL alike (dovecot authenticates
 * both): `Dec 06 21:48:12 auth: Info: passwd-file(alice@example.test,10.0.0.1,<sess>): Password mismatch`.
 * The account is whatever the client sent: only names of address characters are kept, so a
 * hostile one never reaches an alarm's message.
 */
const MAIL_FAILED = /\sauth(?:-worker\(\d+\))?: Info: [a-z-]+\(([^,()\s]+),([^)]*)\): (?:Password mismatch|unknown user)/;
const ACCOUNT = /^[A-Za-z0-9._%+@-]{1,254}$/;

/**
 * Failed mail logins per account within the window. dovecot logs one line per password database
 * it asked, so one login is counted once per session (`<…>`, where the line has one); the
 * accounts in `ignore` (up's own probe, whose login the mail check watches) are not counted.
 */
export function failedMailLoginsByAccount(
  lines: string[],
  hostNow: Date,
  hostOffsetMinutes: number,
  windowMinutes: number,
  ignore: readonly string[] = [],
): Map<string, number> {
  const since = hostNow.getTime() - windowMinutes * 60_000;
  const counts = new Map<string, number>();
  const sessions = new Set<string>();
  for (const line of lines) {
    const match = MAIL_FAILED.exec(line);
    const account = match?.[1]?.toLowerCase();
    if (!account || !ACCOUNT.test(account) || ignore.includes(account)) continue;
    const at = lineTime(line, hostNow, hostOffsetMinutes);
    if (at !== null && at < since) continue;
    const session = /<[^>]+>/.exec(match![2])?.[0];
    if (session) {
      if (sessions.has(`${account} ${session}`)) continue;
      sessions.add(`${account} ${session}`);
    }
    counts.set(account, (counts.get(account) ?? 0) + 1);
  }
  return counts;
}

/** `+0100` → 60. */
export const offsetMinutes = (zone: string) => {
  const m = /^([+-])(\d{2})(\d{2})$/.exec(zone.trim());
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
};

export interface Listener {
  address: string;
  port: number;
}

/** Local addresses of `ss -ltnH` (`0.0.0.0:80`, `[::]:443`, `*:22`, `127.0.0.53%lo:53`). */
export function parseListeners(locals: string[]): Listener[] {
  const found: Listener[] = [];
  for (const local of locals) {
    const cut = local.lastIndexOf(':');
    const port = Number(local.slice(cut + 1));
    if (cut < 0 || !Number.isInteger(port) || port < 1) continue;
    found.push({
      address: local
        .slice(0, cut)
        .replace(/^\[|\]$/g, '')
        .replace(/%.*$/, ''),
      port,
    });
  }
  return found;
}

/** Loopback listeners cannot be reached from elsewhere: they are the host's own business. */
export const isLoopback = (address: string) => /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);

/** Ports that listen beyond loopback and that nothing explains, ascending. */
export function unexplainedPorts(listeners: Listener[], allowed: readonly number[]): number[] {
  const ok = new Set(allowed);
  return [...new Set(listeners.filter((l) => !isLoopback(l.address) && !ok.has(l.port)).map((l) => l.port))].sort((a, b) => a - b);
}
