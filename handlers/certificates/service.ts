/**
 * A host service's certificate: certbot on that host (DNS-01), then the pair installed where
 * the service reads it, owned by the service's user, and the service reloaded when it runs.
 * A service not installed (yet) is no failure: the files wait for it. The new pair is written
 * beside the old one and renamed into place, so the service never sees half of a change.
 */
import type { Static } from 'typebox';
import { sh, script, type Command, type Executor } from '../../lib/exec/index.ts';
import { RetryableError } from '../../lib/errors.ts';
import type { CertResult } from '../../queues/certificates/ops.ts';
import type { CertService, ServiceCertPayload } from '../../queues/certificates/service.ts';
import { describeCertificate, obtain } from './certbot.ts';
import type { HandlerContext } from '../runtime/define.ts';

interface ServiceTls {
  /** Who reads the key; root when that user does not exist (yet) on the host. */
  owner: string;
  /** Succeeds when the service runs here (a condition: it is tested, never fails the script). */
  running: Command;
  reload: Command;
}

const systemd = (unit: string) => sh`command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ${unit}`;
const pidAlive = (pidFile: string) => sh`[ -s ${pidFile} ] && kill -0 "$(cat ${pidFile})" 2>/dev/null`;

export const SERVICE_TLS: Record<CertService, ServiceTls> = {
  postfix: { owner: 'root', running: sh`command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1`, reload: sh`postfix reload` },
  dovecot: {
    owner: 'root',
    running: sh`command -v doveadm >/dev/null 2>&1 && { ${systemd('dovecot')} || ${pidAlive('/run/dovecot/master.pid')}; }`,
    reload: sh`doveadm reload`,
  },
  postgresql: {
    owner: 'postgres',
    running: sh`command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h | grep -q ' online'`,
    reload: sh`pg_lsclusters -h | while read -r version cluster _ status _; do if [ "$status" = online ]; then pg_ctlcluster "$version" "$cluster" reload; fi; done`,
  },
  mariadb: {
    owner: 'mysql',
    running: sh`command -v mariadb-admin >/dev/null 2>&1 && mariadb-admin --no-defaults ping >/dev/null 2>&1`,
    reload: sh`mariadb --no-defaults -e 'FLUSH SSL'`,
  },
  nginx: {
    owner: 'root',
    running: sh`command -v nginx >/dev/null 2>&1 && { ${systemd('nginx')} || ${pidAlive('/run/nginx.pid')}; }`,
    reload: sh`nginx -t -q && nginx -s reload`,
  },
};

export function serviceFiles(deployDir: string, service: CertService) {
  const dir = `${deployDir}/${service}`;
  return { dir, cert: `${dir}/fullchain.pem`, key: `${dir}/privkey.pem` };
}

/** cert.issue / cert.renew for a service: obtain on the host, install, reload. */
export async function issueServiceCertificate(
  p: ServiceCertPayload,
  ctx: HandlerContext,
  renew: boolean,
): Promise<Static<typeof CertResult>> {
  const exec = ctx.connect(p.host);
  const issued = await obtain(exec, certbotView(p), renew, ctx.signal);
  const shown = describeCertificate(issued.cert);
  ctx.log.info(
    { certificate: p.certificate.name, serial: shown.serial, notAfter: shown.notAfter, renewed: issued.renewed },
    'certificate obtained',
  );
  const { changed, reloaded } = await installServiceCertificate(exec, p.service.deployDir, p.service.name, issued);
  ctx.log.info({ host: p.host.name, service: p.service.name, changed, reloaded }, 'service certificate installed');
  return { ...shown, renewed: issued.renewed, hosts: [p.host.name] };
}

/** obtain() reads the issuer's base dir and the DNS server; a service's certbot runs under its own base dir. */
function certbotView(p: ServiceCertPayload): Parameters<typeof obtain>[1] {
  const layout = { group: 'service', baseDir: p.service.baseDir, httpPort: 80, nginxUser: 'root', ipv6: false };
  const issuer = { host: p.host, layout };
  return { certificate: p.certificate, names: p.names, challenge: 'dns-01', issuer, members: [issuer], dns: p.dns };
}

export async function installServiceCertificate(
  exec: Executor,
  deployDir: string,
  service: CertService,
  pem: { cert: string; key: string },
): Promise<{ changed: boolean; reloaded: boolean }> {
  const tls = SERVICE_TLS[service];
  const files = serviceFiles(deployDir, service);
  return exec.withLock(`tls-${service}`, async () => {
    const same =
      (await exec.readFile(files.cert))?.toString('utf8') === pem.cert && (await exec.readFile(files.key))?.toString('utf8') === pem.key;
    if (!same) {
      const owner = await ownerOnHost(exec, tls.owner);
      await exec.run(sh`install -d -m 0750 -o root -g ${owner} ${files.dir}`);
      await exec.putFile(`${files.cert}.new`, pem.cert, { mode: 0o600, owner, group: owner });
      await exec.putFile(`${files.key}.new`, pem.key, { mode: 0o600, owner, group: owner });
      // The key first: a reader that sees the new chain finds its key already there.
      await exec.runScript(script(sh`mv -f ${`${files.key}.new`} ${files.key}`, sh`mv -f ${`${files.cert}.new`} ${files.cert}`));
    }
    const probe = await exec.runScript(script(sh`if ${tls.running}; then echo running; fi`));
    if (probe.stdout.trim() !== 'running') return { changed: !same, reloaded: false };
    const reload = await exec.runScript(script(sh`${tls.reload} 2>&1`), { okExitCodes: [0, 1, 2, 127] });
    if (reload.exitCode !== 0) {
      throw new RetryableError(`${service} on ${exec.host} did not reload with the new certificate: ${reload.stdout.trim().slice(-500)}`, {
        code: 'SERVICE_RELOAD_FAILED',
      });
    }
    return { changed: !same, reloaded: true };
  });
}

async function ownerOnHost(exec: Executor, user: string): Promise<string> {
  if (user === 'root') return user;
  const { exitCode } = await exec.run(sh`id -u ${user} >/dev/null 2>&1`, { okExitCodes: [0, 1] });
  return exitCode === 0 ? user : 'root';
}
