/**
 * Certificates on a proxy member: installed beside the old ones, validated with `nginx -t`,
 * then swapped in and nginx reloaded; when nginx refuses, the old files come back, so either
 * the new certificate serves or the old one still does. Callers hold no lock: this takes
 * the member's nginx lock, as every other writer of its nginx does.
 */
import { X509Certificate } from 'node:crypto';
import { sh, script, type Executor } from '../lib/exec/index.ts';
import { PermanentError } from '../queues/errors.ts';
import { siteCertName, tlsFiles, WILDCARD_CERT } from '../queues/ops/cert.ts';
import { isRunning, nginxPaths, reloadOrStart, testConfig, withNginxLock } from './nginx.ts';
import type { InstalledCerts } from './website.apply/view.ts';

/** Puts the pair in place on one member; false when it already holds this certificate. */
export async function installCertificate(exec: Executor, baseDir: string, name: string, pem: { cert: string; key: string }): Promise<boolean> {
  const paths = nginxPaths(baseDir);
  const files = tlsFiles(baseDir, name);
  return withNginxLock(exec, baseDir, async () => {
    const current = await exec.readFile(files.cert);
    if (current !== null && current.toString('utf8') === pem.cert && (await exec.readFile(files.key))?.toString('utf8') === pem.key) return false;
    await exec.run(sh`install -d -m 0700 -o root -g root ${`${baseDir}/tls`} ${files.dir}`);
    await exec.putFile(`${files.cert}.new`, pem.cert, { mode: 0o644, owner: 'root', group: 'root' });
    await exec.putFile(`${files.key}.new`, pem.key, { mode: 0o600, owner: 'root', group: 'root' });
    await exec.runScript(
      script(
        sh`for f in ${files.cert} ${files.key}; do if [ -f "$f" ]; then cp -p "$f" "$f.old"; else rm -f "$f.old"; fi; done`,
        sh`mv -f ${`${files.cert}.new`} ${files.cert}`,
        sh`mv -f ${`${files.key}.new`} ${files.key}`,
      ),
    );
    const complaint = await testConfig(exec, paths);
    if (complaint !== null) {
      await exec.runScript(script(sh`for f in ${files.cert} ${files.key}; do if [ -f "$f.old" ]; then mv -f "$f.old" "$f"; else rm -f "$f"; fi; done`));
      throw new PermanentError(`nginx rejected the new certificate on ${exec.host} (the previous one stays): ${complaint}`, { code: 'NGINX_INVALID' });
    }
    if (await isRunning(exec, paths)) await reloadOrStart(exec, paths);
    await exec.run(sh`rm -f -- ${`${files.cert}.old`} ${`${files.key}.old`}`);
    return true;
  });
}

/**
 * Which certificates this member holds for a site, and the names the site's own one covers:
 * only those names get an HTTPS server (nginx -t fails on a missing file, and a name the
 * certificate does not cover would answer with a browser warning). Call under the nginx lock.
 */
export async function installedCerts(exec: Executor, baseDir: string, siteKey: string | null): Promise<InstalledCerts> {
  const wildcard = tlsFiles(baseDir, WILDCARD_CERT);
  const site = siteKey ? tlsFiles(baseDir, siteCertName(siteKey)) : null;
  const { stdout } = await exec.runScript(
    script(
      sh`if [ -s ${wildcard.cert} ] && [ -s ${wildcard.key} ]; then echo wildcard; fi`,
      ...(site ? [sh`if [ -s ${site.cert} ] && [ -s ${site.key} ]; then cat ${site.cert}; fi`] : []),
    ),
  );
  const pem = stdout.slice(stdout.indexOf('-----BEGIN'));
  return { wildcard: stdout.startsWith('wildcard\n'), siteNames: stdout.includes('-----BEGIN') ? namesOf(pem) : [] };
}

function namesOf(pem: string): string[] {
  try {
    const san = new X509Certificate(pem).subjectAltName ?? '';
    return san.split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
  } catch {
    return [];
  }
}

/** Removes a certificate from a member (its files and, on the issuer, certbot's lineage). */
export async function removeCertificate(exec: Executor, baseDir: string, name: string): Promise<void> {
  const certbot = `${baseDir}/certbot/config`;
  await exec.run(sh`rm -rf -- ${tlsFiles(baseDir, name).dir} ${`${certbot}/live/${name}`} ${`${certbot}/archive/${name}`} ${`${certbot}/renewal/${name}.conf`}`);
}
