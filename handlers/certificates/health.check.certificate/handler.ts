import { X509Certificate } from 'node:crypto';
import { script, sh } from '../../../lib/exec/index.ts';
import { tlsFiles } from '../../../queues/certificates/ops.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckCertificate } from '../../../queues/certificates/health.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { fields, probe } from '../../runtime/probe.ts';
import { nginxPaths } from '../../proxies/nginx.ts';

type Payload = PayloadOf<typeof healthCheckCertificate>;
const DAY_MS = 86_400_000;

/**
 * One round trip on the member: is nginx up, the installed certificate (the leaf of its
 * fullchain), then what nginx hands out there for the name, as a client would see it.
 */
export function certificateProbe({ host, layout, certificate }: Pick<Payload, 'host' | 'layout' | 'certificate'>) {
  const file = tlsFiles(layout.baseDir, certificate.name).cert;
  const address = host.address.includes(':') ? `[${host.address}]` : host.address;
  return script(
    sh`if pid=$(cat ${nginxPaths(layout.baseDir).pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running yes; else echo running no; fi`,
    sh`echo installed`,
    sh`if [ -e ${file} ]; then openssl x509 -in ${file} 2>/dev/null || echo unreadable; else echo missing; fi`,
    sh`echo served`,
    sh`timeout 10 openssl s_client -connect ${`${address}:${layout.httpsPort ?? 443}`} -servername ${certificate.serverName} </dev/null 2>/dev/null | openssl x509 2>/dev/null || echo none`,
  );
}

const parse = (pem: string): X509Certificate | null => {
  try {
    return pem.includes('-----BEGIN CERTIFICATE-----') ? new X509Certificate(pem) : null;
  } catch {
    return null;
  }
};

const serialOf = (x: X509Certificate) => x.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

/** The probe's output judged against the certificate row; `proxy-down` is the proxy check's to repair. */
export function judgeCertificate(
  output: string,
  p: Pick<Payload, 'layout' | 'certificate' | 'renewBeforeDays'>,
  host: string,
  now = new Date(),
) {
  const cut = (from: string, to?: string) => {
    const start = output.indexOf(`\n${from}\n`);
    if (start < 0) return '';
    const end = to ? output.indexOf(`\n${to}\n`, start) : -1;
    return output.slice(start + from.length + 2, end < 0 ? undefined : end).trim();
  };
  const installedText = cut('installed', 'served');
  const servedText = cut('served');
  const { certificate, layout } = p;
  const where = `certificate ${certificate.name} on ${host}`;
  const recorded = certificate.serial.replace(/^0+(?=.)/, '');
  const problems: Problem[] = [];
  const measurements: Record<string, number> = { recordedAt: certificate.recordedAt };

  const installed = parse(installedText);
  if (installedText === 'missing')
    problems.push({ cause: 'certificate-missing', message: `${where}: ${tlsFiles(layout.baseDir, certificate.name).cert} is missing` });
  else if (!installed)
    problems.push({ cause: 'certificate-unreadable', message: `${where}: the installed file is not a readable certificate` });
  else {
    const from = new Date(installed.validFrom);
    const to = new Date(installed.validTo);
    measurements.daysLeft = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
    if (now < from || now > to)
      problems.push({
        cause: 'certificate-invalid',
        message: `${where} is not valid now (valid from ${from.toISOString()} to ${to.toISOString()})`,
      });
    else if (to.getTime() - now.getTime() < p.renewBeforeDays * DAY_MS) {
      problems.push({
        cause: 'certificate-expiring',
        message: `${where} expires ${to.toISOString()}, within the renewal window of ${p.renewBeforeDays} days`,
      });
    }
    if (installed.fingerprint256 !== certificate.fingerprint) {
      problems.push({
        cause: 'certificate-mismatch',
        message: `${where}: the installed file (serial ${serialOf(installed)}) is not the recorded certificate (serial ${recorded})`,
      });
    }
  }

  if (fields(output).get('running') !== 'yes') {
    problems.push({
      cause: 'proxy-down',
      message: `nginx of proxy group ${layout.group} is not running on ${host}, so ${certificate.serverName} is not served there`,
    });
  } else {
    const served = parse(servedText);
    measurements.served = served && serialOf(served) === recorded ? 1 : 0;
    if (!served)
      problems.push({
        cause: 'certificate-not-served',
        message: `${where}: nothing answers TLS for ${certificate.serverName} on port ${layout.httpsPort ?? 443}`,
      });
    else if (serialOf(served) !== recorded) {
      problems.push({
        cause: 'certificate-not-served',
        message: `${where}: ${certificate.serverName} is served with serial ${serialOf(served)} (${served.subject.replace(/\n/g, ', ').slice(0, 200)}), not the recorded ${recorded}`,
      });
    }
  }
  return { problems, measurements };
}

export default defineHandler({
  op: healthCheckCertificate,
  async run(payload, { connect, signal }) {
    const exec = connect(payload.host);
    const output = await probe(exec, certificateProbe(payload), payload.resource, signal);
    if (typeof output !== 'string') return output;
    const { problems, measurements } = judgeCertificate(`\n${output}`, payload, exec.host);
    return { resource: payload.resource, healthy: problems.length === 0, problems, measurements };
  },
});
