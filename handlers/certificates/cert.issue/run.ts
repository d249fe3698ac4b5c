import type { Static } from 'typebox';
import type { CertPayload, CertResult } from '../../../queues/certificates/ops.ts';
import type { HandlerContext } from '../../runtime/define.ts';
import { describeCertificate, obtain } from '../certbot.ts';
import { installCertificate } from '../tls-files.ts';

/**
 * cert.issue and cert.renew: certbot on the issuer, then the same files on every member.
 * A member that fails (nginx refuses, host down) fails the job; the others keep what they
 * got, and the retry converges them (certbot keeps the now-current certificate).
 */
export async function issueAndInstall(
  p: Static<typeof CertPayload>,
  ctx: HandlerContext,
  renew: boolean,
): Promise<Static<typeof CertResult>> {
  const issued = await obtain(ctx.connect(p.issuer.host), p, renew, ctx.signal);
  const shown = describeCertificate(issued.cert);
  ctx.log.info(
    { certificate: p.certificate.name, serial: shown.serial, notAfter: shown.notAfter, renewed: issued.renewed },
    'certificate obtained',
  );
  const hosts: string[] = [];
  await Promise.all(
    p.members.map(async (member) => {
      const changed = await installCertificate(ctx.connect(member.host), member.layout.baseDir, p.certificate.name, issued);
      ctx.log.info({ host: member.host.name, certificate: p.certificate.name, changed }, 'certificate installed');
      hosts.push(member.host.name);
    }),
  );
  return { ...shown, renewed: issued.renewed, hosts: hosts.sort() };
}
