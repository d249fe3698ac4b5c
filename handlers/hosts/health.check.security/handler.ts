import { script, sh, type Command } from '../../../lib/exec/index.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckSecurity } from '../../../queues/hosts/security.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { probe } from '../../runtime/probe.ts';
import { listUpgradable, parseUpgradable } from '../host.update/apt-list.ts';
import { PROBE_USER } from '../../mail/probe-mailbox.ts';
import { failedLoginsBySource, failedMailLoginsByAccount, offsetMinutes, parseListeners, unexplainedPorts } from './findings.ts';

type Payload = PayloadOf<typeof healthCheckSecurity>;

/** sshd's lines about refused logins; the rest of the log never leaves the host. */
const FAILED_LINES = 'Failed [a-z-]+ for |Invalid user ';
/** dovecot's lines about refused mail logins (auth_verbose). */
const MAIL_FAILED_LINES = 'Password mismatch|unknown user';
/** At most this many paths of each kind travel back (the count says "at least"). */
const MAX_PATHS = 100;

/** Files writable by others (symlinks aside): `ww <path>` lines. */
const worldWritable = (dir: Command) =>
  sh`find ${dir} -xdev -perm -0002 ! -type l -print 2>/dev/null | head -n ${MAX_PATHS} | sed 's/^/ww /'`;

/** One round trip, in sections (`== name`): the host's clock, auth log, listeners, unsafe files, pending updates. */
export function securityProbe(p: Pick<Payload, 'authLog' | 'windowMinutes' | 'dirs' | 'securityUpdates' | 'mailAuth'>): Command {
  // NULs (a file truncated under a writer that keeps its offset) would make grep call it binary.
  const recent = (source: Command) => sh`${source} | tr -d '\000' | grep -aE ${FAILED_LINES} | tail -n 5000 || true`;
  const file = (path: string) => recent(sh`tail -n 50000 ${path}`);
  return script(
    sh`echo "== clock"; date +'%s %z'`,
    sh`echo "== auth"`,
    p.authLog !== null
      ? sh`if [ -r ${p.authLog} ]; then ${file(p.authLog)}; else echo "no-log"; fi`
      : sh`if command -v journalctl >/dev/null 2>&1 && [ -n "$(journalctl -q -n 1 --no-pager 2>/dev/null)" ]; then ${recent(sh`journalctl -q --no-pager -o short-iso ${`--since=-${p.windowMinutes}min`} _COMM=sshd _COMM=sshd-session 2>/dev/null`)}; elif [ -r /var/log/auth.log ]; then ${file('/var/log/auth.log')}; else echo "no-log"; fi`,
    ...(p.mailAuth
      ? [
          sh`echo "== mail-auth"`,
          sh`if [ -r ${p.mailAuth.log} ]; then tail -n 50000 ${p.mailAuth.log} | tr -d '\000' | grep -aE ${MAIL_FAILED_LINES} | tail -n 5000 || true; fi`,
        ]
      : []),
    sh`echo "== listen"; ss -ltnH | awk '{ print $4 }'`,
    sh`echo "== files"`,
    sh`for h in ${p.dirs.homes}/up-*; do [ -d "$h" ] || continue; ${worldWritable(sh`"$h"`)}; u=$(basename "$h"); if id -u "$u" >/dev/null 2>&1; then find "$h" -xdev ! -user "$u" -print 2>/dev/null | head -n ${MAX_PATHS} | sed 's/^/owner /'; fi; done`,
    ...p.dirs.docRoots.map((dir) => sh`if [ -d ${dir} ]; then ${worldWritable(sh`${dir}`)}; fi`),
    ...(p.securityUpdates !== null ? [sh`echo "== apt"`, listUpgradable()] : []),
  );
}

function sections(output: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith('== ')) found.set(line.slice(3), (current = []));
    else if (line) current.push(line);
  }
  return found;
}

const listed = (paths: string[]) =>
  paths.slice(0, 5).join(', ') + (paths.length > 5 ? `, … (${paths.length >= MAX_PATHS ? `${MAX_PATHS}+` : paths.length} in all)` : '');

/** The findings as problems and measurements. */
export function judgeSecurity(output: string, p: Payload, host: string): { problems: Problem[]; measurements: Record<string, number> } {
  const found = sections(output);
  const [epoch, zone = '+0000'] = (found.get('clock')?.[0] ?? '').split(' ');
  const now = Number(epoch) > 0 ? new Date(Number(epoch) * 1000) : new Date();
  const problems: Problem[] = [];

  const auth = found.get('auth') ?? [];
  const bySource = failedLoginsBySource(auth, now, offsetMinutes(zone), p.windowMinutes);
  const loud = [...bySource].filter(([, n]) => n >= p.failedLogins).sort((a, b) => b[1] - a[1]);
  if (loud.length) {
    const sources = loud
      .slice(0, 20)
      .map(([source, n]) => `${source} (${n})`)
      .join(', ');
    problems.push({
      cause: 'ssh-failed-logins',
      message: `failed SSH logins on ${host} within ${p.windowMinutes} min from ${sources} (threshold ${p.failedLogins})`,
    });
  }

  let mailFailures = 0;
  if (p.mailAuth) {
    const byAccount = failedMailLoginsByAccount(found.get('mail-auth') ?? [], now, offsetMinutes(zone), p.mailAuth.windowMinutes, [
      PROBE_USER,
    ]);
    mailFailures = [...byAccount.values()].reduce((a, b) => a + b, 0);
    const loudAccounts = [...byAccount].filter(([, n]) => n >= p.mailAuth!.failedLogins).sort((a, b) => b[1] - a[1]);
    if (loudAccounts.length) {
      const accounts = loudAccounts
        .slice(0, 20)
        .map(([account, n]) => `${account} (${n})`)
        .join(', ');
      problems.push({
        cause: 'mail-failed-logins',
        message: `failed mail logins on ${host} within ${p.mailAuth.windowMinutes} min for ${accounts} (threshold ${p.mailAuth.failedLogins})`,
      });
    }
  }

  const ports = unexplainedPorts(parseListeners(found.get('listen') ?? []), p.allowedPorts);
  if (ports.length)
    problems.push({ cause: 'unexplained-ports', message: `TCP ports listening on ${host} that no role explains: ${ports.join(', ')}` });

  const files = found.get('files') ?? [];
  const writable = files.filter((l) => l.startsWith('ww ')).map((l) => l.slice(3));
  const foreign = files.filter((l) => l.startsWith('owner ')).map((l) => l.slice(6));
  if (writable.length || foreign.length) {
    const parts = [
      writable.length ? `writable by others: ${listed(writable)}` : '',
      foreign.length ? `not owned by their tenant: ${listed(foreign)}` : '',
    ].filter(Boolean);
    problems.push({ cause: 'unsafe-files', message: `unsafe files of tenants on ${host}: ${parts.join('; ')}`.slice(0, 2000) });
  }

  const measurements: Record<string, number> = {
    failedLogins: [...bySource.values()].reduce((a, b) => a + b, 0),
    ...(p.mailAuth ? { failedMailLogins: mailFailures } : {}),
    unexplainedPorts: ports.length,
    worldWritableFiles: writable.length,
    foreignFiles: foreign.length,
  };
  if (p.securityUpdates !== null) {
    const security = parseUpgradable((found.get('apt') ?? []).join('\n')).filter((u) => u.security);
    measurements.securityUpdates = security.length;
    if (security.length > p.securityUpdates) {
      const names = security
        .slice(0, 10)
        .map((u) => u.name)
        .join(', ');
      problems.push({
        cause: 'security-updates',
        message: `${security.length} security updates pending on ${host} (threshold ${p.securityUpdates}): ${names}${security.length > 10 ? ', …' : ''}`,
      });
    }
  }
  return { problems, measurements };
}

export default defineHandler({
  op: healthCheckSecurity,
  async run(payload, { connect, signal }) {
    const exec = connect(payload.host);
    const output = await probe(exec, securityProbe(payload), payload.resource, signal);
    if (typeof output !== 'string') return output;
    const { problems, measurements } = judgeSecurity(output, payload, exec.host);
    return { resource: payload.resource, healthy: problems.length === 0, problems, measurements };
  },
});
