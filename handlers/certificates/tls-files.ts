/**
 * Certificates on a proxy member, under the member's nginx lock (callers hold no lock; every
 * writer of this nginx takes it). One script writes the pair beside the current one, compares
 * them, and moves the new pair into place with the current one kept as `.old`.
 *
 * A first certificate (no usable pair there before) is referred to by no configuration yet:
 * website.apply and proxy.apply render an HTTPS server only for a pair they find installed
 * (`installedCerts`), and the applies the gateway sends after cert.issue validate and reload.
 * So it is only moved in: no `nginx -t`, no reload (about a third of a second saved).
 * A replacement is referred to by what nginx serves: a second script runs `nginx -t`, then a
 * reload (when nginx runs) that waits for the old workers; when nginx refuses, the old files
 * come back, so either the new certificate serves or the old one still does.
 *
 * The PEM text reaches the host inside the script, on the command's stdin (printf is a shell
 * builtin: no argv shows the key), quoted as one word like every other value.
 */
import { X509Certificate } from 'node:crypto';
import { sh, script, type Executor } from '../../lib/exec/index.ts';
import { PermanentError } from '../../lib/errors.ts';
import { siteCertName, tlsFiles, WILDCARD_CERT } from '../../queues/certificates/ops.ts';
import { defineReloadAndWait, essential, nginxCmd, nginxPaths, tightenLogs, withNginxLock } from '../proxies/nginx.ts';
import type { InstalledCerts } from '../websites/website.apply/view.ts';

/** Puts the pair in place on one member; false when it already holds this certificate. */
export async function installCertificate(
  exec: Executor,
  baseDir: string,
  name: string,
  pem: { cert: string; key: string },
): Promise<boolean> {
  const paths = nginxPaths(baseDir);
  const files = tlsFiles(baseDir, name);
  const cert = { now: files.cert, next: `${files.cert}.new`, old: `${files.cert}.old` };
  const key = { now: files.key, next: `${files.key}.new`, old: `${files.key}.old` };
  return withNginxLock(exec, baseDir, async () => {
    const placed = await exec.runScript(
      script(
        sh`umask 077`,
        sh`install -d -m 0700 -o root -g root ${`${baseDir}/tls`} ${files.dir}`,
        sh`printf '%s' ${pem.cert} > ${cert.next}; chown root:root ${cert.next}; chmod 0644 ${cert.next}`,
        sh`printf '%s' ${pem.key} > ${key.next}; chown root:root ${key.next}; chmod 0600 ${key.next}`,
        sh`if cmp -s ${cert.next} ${cert.now} && cmp -s ${key.next} ${key.now}; then rm -f -- ${cert.next} ${key.next}; echo unchanged; exit 0; fi`,
        // What installedCerts counts as installed: only such a pair can be in a configuration.
        sh`if [ -s ${cert.now} ] && [ -s ${key.now} ]; then replacing=yes; else replacing=no; fi`,
        sh`for f in ${files.cert} ${files.key}; do if [ -f "$f" ]; then cp -p "$f" "$f.old"; else rm -f "$f.old"; fi; done`,
        sh`mv -f ${cert.next} ${cert.now}`,
        sh`mv -f ${key.next} ${key.now}`,
        sh`if [ $replacing = no ]; then rm -f -- ${cert.old} ${key.old}; fi`,
        sh`echo $replacing`,
      ),
    );
    const placedAs = placed.stdout.trim();
    if (placedAs === 'unchanged') return false;
    if (placedAs === 'no') return true;
    const outcome = await exec.runScript(
      script(
        ...defineReloadAndWait(paths),
        sh`if ! complaint=$(${nginxCmd(paths)} -t 2>&1); then`,
        sh`  for f in ${files.cert} ${files.key}; do if [ -f "$f.old" ]; then mv -f "$f.old" "$f"; else rm -f "$f"; fi; done`,
        sh`  printf '%s\n' "$complaint" >&2; exit 3`,
        sh`fi`,
        sh`if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then reload_and_wait; ${tightenLogs(paths)}; fi`,
        sh`rm -f -- ${cert.old} ${key.old}`,
      ),
      { okExitCodes: [0, 3, 4] },
    );
    if (outcome.exitCode === 3) {
      throw new PermanentError(
        `nginx rejected the new certificate on ${exec.host} (the previous one stays): ${essential(outcome.stderr)}`,
        { code: 'NGINX_INVALID' },
      );
    }
    if (outcome.exitCode === 4) {
      throw new PermanentError(`nginx could not load the configuration (the previous one stays active): ${essential(outcome.stderr)}`, {
        code: 'NGINX_INVALID',
      });
    }
    return true;
  });
}

/**
 * Which certificates this member holds for a site, and the names the site's own one covers:
 * only those names get an HTTPS server (nginx -t fails on a missing file, and a name the
 * certificate does not cover would answer with a browser warning). Call under the nginx lock.
 */
export async function installedCerts(exec: Executor, baseDir: string, siteKey: string | null): Promise<InstalledCerts> {
  const { stdout } = await exec.runScript(script(...installedCertsProbe(baseDir, siteKey)));
  return parseInstalledCerts(stdout);
}

/** installedCerts' commands, to run inside another read-only script (website.apply's first round trip). */
export function installedCertsProbe(baseDir: string, siteKey: string | null) {
  const wildcard = tlsFiles(baseDir, WILDCARD_CERT);
  const site = siteKey ? tlsFiles(baseDir, siteCertName(siteKey)) : null;
  return [
    sh`if [ -s ${wildcard.cert} ] && [ -s ${wildcard.key} ]; then echo wildcard; fi`,
    ...(site ? [sh`if [ -s ${site.cert} ] && [ -s ${site.key} ]; then cat ${site.cert}; fi`] : []),
  ];
}

/** What installedCertsProbe printed. */
export function parseInstalledCerts(stdout: string): InstalledCerts {
  const pem = stdout.slice(stdout.indexOf('-----BEGIN'));
  return { wildcard: stdout.startsWith('wildcard\n'), siteNames: stdout.includes('-----BEGIN') ? namesOf(pem) : [] };
}

function namesOf(pem: string): string[] {
  try {
    const san = new X509Certificate(pem).subjectAltName ?? '';
    return san
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4).toLowerCase());
  } catch {
    return [];
  }
}

/** Removes a certificate from a member (its files and, on the issuer, certbot's lineage). */
export async function removeCertificate(exec: Executor, baseDir: string, name: string): Promise<void> {
  const certbot = `${baseDir}/certbot/config`;
  await exec.run(
    sh`rm -rf -- ${tlsFiles(baseDir, name).dir} ${`${certbot}/live/${name}`} ${`${certbot}/archive/${name}`} ${`${certbot}/renewal/${name}.conf`}`,
  );
}
