/**
 * certbot on a proxy host: its own config/work/logs directories under the group's base dir
 * (0700, root), the ACME directory from the handler's settings, non-interactive. The TSIG
 * secret for DNS-01 goes to a 0600 credentials file on that host for the length of one run,
 * never into a command line, a message or a log.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Static } from 'typebox';
import { acmeSettings, ConfigError, type AcmeSettings } from '../../lib/config.ts';
import { sh, script, type Command, type Executor } from '../../lib/exec/index.ts';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import type { CertPayload } from '../../queues/certificates/ops.ts';
import { loadTsigKey } from '../dns/keys.ts';

type Payload = Static<typeof CertPayload>;

export function certbotDirs(baseDir: string) {
  const root = `${baseDir}/certbot`;
  return {
    root,
    config: `${root}/config`,
    work: `${root}/work`,
    logs: `${root}/logs`,
    caBundle: `${root}/ca-bundle.pem`,
    live: (name: string) => `${root}/config/live/${name}`,
    credentials: (name: string) => `${root}/rfc2136-${name}.ini`,
  };
}
type Dirs = ReturnType<typeof certbotDirs>;

export interface Issued {
  cert: string;
  key: string;
  /** false: certbot kept the current certificate (it covers the names and is not due). */
  renewed: boolean;
}

/** The ACME settings, with a wrong value as a permanent failure of the job (it names the variable). */
export function settings(): AcmeSettings {
  try {
    return acmeSettings();
  } catch (error) {
    if (error instanceof ConfigError) throw new PermanentError(error.message, { code: 'ACME_CONFIG' });
    throw error;
  }
}

/** `certbot certonly` for the payload's names; `renew` forces a new certificate even when the current one is not due. */
export function certonlyCommand(p: Payload, dirs: Dirs, acme: AcmeSettings, renew: boolean): Command {
  const domains = p.names.flatMap((name) => ['-d', name]);
  const challenge =
    p.challenge === 'dns-01'
      ? sh`--authenticator dns-rfc2136 --dns-rfc2136-credentials ${dirs.credentials(p.certificate.name)} --dns-rfc2136-propagation-seconds ${acme.dnsPropagationSeconds}`
      : sh`--webroot -w ${`${p.issuer.layout.baseDir}/acme`}`;
  const contact = acme.email ? sh`--email ${acme.email}` : sh`--register-unsafely-without-email`;
  const bundle = acme.caBundleFile ? sh`REQUESTS_CA_BUNDLE=${dirs.caBundle}` : sh``;
  return sh`${bundle} certbot certonly --non-interactive --agree-tos ${contact} --server ${acme.directory} --config-dir ${dirs.config} --work-dir ${dirs.work} --logs-dir ${dirs.logs} --cert-name ${p.certificate.name} ${renew ? sh`--force-renewal` : sh`--keep-until-expiring`} ${challenge} ${domains} 2>&1`;
}

/**
 * Runs certbot on the issuer (one certbot at a time per base dir: it keeps a lock of its own
 * and would fail instead of waiting) and reads the resulting lineage.
 */
export async function obtain(exec: Executor, p: Payload, renew: boolean, signal: AbortSignal): Promise<Issued> {
  const acme = settings();
  const dirs = certbotDirs(p.issuer.layout.baseDir);
  const lock = `certbot-${createHash('sha256').update(dirs.root).digest('hex').slice(0, 12)}`;
  return exec.withLock(
    lock,
    async () => {
      await exec.run(
        sh`install -d -m 0700 -o root -g root ${dirs.root} ${dirs.config} ${dirs.work} ${dirs.logs} && install -d -m 0755 ${`${p.issuer.layout.baseDir}/acme`}`,
      );
      if (acme.caBundleFile)
        await exec.putFile(dirs.caBundle, await readBundle(acme.caBundleFile), { mode: 0o644, owner: 'root', group: 'root' });
      const credentials = dirs.credentials(p.certificate.name);
      if (p.dns) await exec.putFile(credentials, await credentialsFile(p.dns), { mode: 0o600, owner: 'root', group: 'root' });
      let outcome;
      try {
        outcome = await exec.runScript(script(certonlyCommand(p, dirs, acme, renew)), {
          okExitCodes: [0, 1, 127],
          timeoutMs: 240_000,
          signal,
        });
      } finally {
        if (p.dns) await exec.run(sh`rm -f -- ${credentials}`).catch(() => undefined);
      }
      const output = `${outcome.stdout}\n${outcome.stderr}`;
      if (outcome.exitCode === 127)
        throw new PermanentError(`certbot is not installed on ${exec.host} (host.prepare installs it for the proxy role)`, {
          code: 'CERTBOT_MISSING',
        });
      if (outcome.exitCode !== 0) throw certbotFailure(output);
      const live = dirs.live(p.certificate.name);
      const [cert, key] = await Promise.all([exec.readFile(`${live}/fullchain.pem`), exec.readFile(`${live}/privkey.pem`)]);
      if (!cert || !key) throw new RetryableError(`certbot succeeded but ${live} holds no certificate`, { code: 'CERTBOT_NO_LINEAGE' });
      return { cert: cert.toString('utf8'), key: key.toString('utf8'), renewed: !/not yet due for renewal/i.test(output) };
    },
    { waitMs: 240_000 },
  );
}

async function readBundle(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new PermanentError(`UP_ACME_CA_BUNDLE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      code: 'ACME_CONFIG',
    });
  }
}

async function credentialsFile(dns: NonNullable<Payload['dns']>): Promise<string> {
  const key = await loadTsigKey(dns.keyName, dns.algorithm);
  return [
    `dns_rfc2136_server = ${dns.address}`,
    `dns_rfc2136_port = ${dns.port}`,
    `dns_rfc2136_name = ${dns.keyName}`,
    `dns_rfc2136_secret = ${key.secret.toString('base64')}`,
    `dns_rfc2136_algorithm = ${dns.algorithm.toUpperCase()}`,
    '',
  ].join('\n');
}

/**
 * What certbot's failure means. The CA's verdict on a challenge (its Type:/Detail: lines) and a
 * DNS server refusing our update will not change by trying again at once: permanent (the
 * scheduler retries later, with backoff). Anything else (the CA unreachable, a lock) is retryable.
 */
export function certbotFailure(output: string): Error {
  const lines = output.split('\n').map((l) => l.trim());
  const verdict = lines.filter((l) => /^(Domain|Type|Detail):/.test(l));
  if (verdict.length)
    return new PermanentError(`the ACME server refused the challenge: ${verdict.join(' ').slice(0, 1500)}`, { code: 'ACME_REJECTED' });
  const dns = lines.filter((l) => /NOTAUTH|BADSIG|BADKEY|REFUSED|Encountered error (adding|deleting) TXT record|rfc2136/i.test(l));
  if (dns.length)
    return new PermanentError(`the DNS server refused the challenge record: ${dns.join(' ').slice(0, 1500)}`, {
      code: 'DNS_UPDATE_REFUSED',
    });
  const acme = lines.filter((l) => /^An unexpected error|urn:ietf:params:acme:error|Error:/.test(l));
  const tail = (acme.length ? acme : lines.filter(Boolean).slice(-4)).join(' ').slice(0, 1500);
  return new RetryableError(`certbot failed: ${tail}`, { code: 'CERTBOT_FAILED' });
}

/** What the API shows of a certificate, read from its PEM (the first certificate is the leaf). */
export function describeCertificate(pem: string) {
  const x = new X509Certificate(pem);
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.issuer)?.[1];
  return {
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    issuer: cn ?? x.issuer.replace(/\n/g, ', '),
    serial: x.serialNumber.toLowerCase(),
    fingerprint: x.fingerprint256,
  };
}
