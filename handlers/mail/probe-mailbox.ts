/**
 * Each mail host's probe mailbox, which the health check logs in with over IMAPS. Its password is
 * made on the host by mail.apply and stays there, in a root-only file: it never travels, is in no
 * message, job row or log, and PostgreSQL has nothing to lose or leak. dovecot gets its hash alone,
 * in a passwd-file of its own (the tenants' one is rendered from PostgreSQL). The check reads the
 * password on the host, as root, and hands it to the IMAP session on a pipe, never in an argument.
 */
import { sh, type Command } from '../../lib/exec/index.ts';

/** Not an address: no tenant's mailbox can have this name. */
export const PROBE_USER = 'up-probe';
export const PROBE_SECRET_DIR = '/etc/up/mail-probe';
export const PROBE_SECRET = `${PROBE_SECRET_DIR}/secret`;
export const PROBE_USERS_FILE = '/etc/dovecot/up-probe';

const NEW = '.up-new';

/**
 * The password made once (192 random bits, hex: an IMAP atom), and the passwd-file entry written
 * again whenever it does not verify against it (missing, or edited by hand): idempotent, and the
 * hash changes only when it has to.
 */
export function ensureProbeMailbox(vmailRoot: string): Command[] {
  const entry = `${PROBE_USER}:{SHA512-CRYPT}`;
  return [
    sh`install -d -m 0700 ${PROBE_SECRET_DIR}`,
    sh`if [ ! -s ${PROBE_SECRET} ]; then (umask 077 && openssl rand -hex 24 > ${`${PROBE_SECRET}${NEW}`}) && mv -f ${`${PROBE_SECRET}${NEW}`} ${PROBE_SECRET}; fi`,
    sh`hash=$(grep -F ${entry} ${PROBE_USERS_FILE} 2>/dev/null | head -n 1 | cut -d: -f2 | sed 's/^{SHA512-CRYPT}//'); salt=$(printf '%s' "$hash" | cut -d'$' -f3)`,
    sh`if [ -z "$salt" ] || [ "$(openssl passwd -6 -salt "$salt" -stdin < ${PROBE_SECRET})" != "$hash" ]; then printf '%s%s::::%s::\n' ${entry} "$(openssl passwd -6 -stdin < ${PROBE_SECRET})" ${`${vmailRoot}/${PROBE_USER}`} > ${`${PROBE_USERS_FILE}${NEW}`} && chown root:dovecot ${`${PROBE_USERS_FILE}${NEW}`} && chmod 0640 ${`${PROBE_USERS_FILE}${NEW}`} && mv -f ${`${PROBE_USERS_FILE}${NEW}`} ${PROBE_USERS_FILE}; fi`,
  ];
}

/** `imap-login ok|failed`: a LOGIN as the probe over TLS on `port`, the password sent on the session's stdin. */
export function probeLogin(port: number): Command {
  return sh`if [ -s ${PROBE_SECRET} ] && { printf 'a LOGIN %s %s\r\nb LOGOUT\r\n' ${PROBE_USER} "$(cat ${PROBE_SECRET})"; } | timeout 10 openssl s_client -quiet -connect ${`127.0.0.1:${port}`} 2>/dev/null | grep -q '^a OK'; then echo imap-login ok; else echo imap-login failed; fi`;
}
