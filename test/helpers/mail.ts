/**
 * What a person checks on a mail host: swaks sends (and shows every server reply), python3's
 * imaplib logs in over IMAPS (verifying the certificate against the test's CA, by name) and
 * lists the subjects (decoded, as a mail client shows them), or tries a plaintext LOGIN on port 143 without STARTTLS.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a lab mail host keeps to itself (hosts.sh UP_LAB_PRIVATE): postfix, dovecot, opendkim and mlmmj state, and its logs. */
export const MAIL_PRIVATE_DIRS = [
  '/etc/postfix',
  '/var/spool/postfix',
  '/var/lib/postfix',
  '/etc/dovecot',
  '/var/lib/dovecot',
  '/run/dovecot',
  '/var/vmail',
  '/var/spool/mlmmj',
  '/etc/up',
  '/var/log',
  // opendkim's tables, keys and pid (its /etc/opendkim.conf is the same on every host).
  '/etc/opendkim',
  '/etc/dkimkeys',
  '/run/opendkim',
];

/** Every line swaks printed, and its exit code (non-zero when the server refused a step). */
export async function swaks(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('swaks', ['--timeout', '20', ...args], { maxBuffer: 1 << 22 });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A mail sent from outside to port 25 of `address` (no login), as any other server would: every line of the dialogue. */
export function sendFromOutside(
  address: string,
  mail: { from: string; to: string; subject?: string; body?: string },
  extra: string[] = [],
): Promise<{ code: number; out: string }> {
  return swaks([
    '--server',
    address,
    '--port',
    '25',
    '--ehlo',
    'client.example',
    '--from',
    mail.from,
    '--to',
    mail.to,
    ...(mail.subject === undefined ? [] : ['--header', `Subject: ${mail.subject}`]),
    ...(mail.body === undefined && mail.subject === undefined ? [] : ['--body', mail.body ?? 'hello']),
    ...extra,
  ]);
}

const IMAP_PY = String.raw`
import imaplib, json, socket, ssl, sys, time, hashlib
from email.header import decode_header, make_header
action, address, name, cafile, user, password = sys.argv[1:7]
out = {}
try:
    if action == 'plain143':
        c = imaplib.IMAP4(address, 143, timeout=20)
        out['capabilities'] = list(c.capabilities)
        try:
            c.login(user, password)
            out['ok'] = True
        except imaplib.IMAP4.error as e:
            out['ok'] = False
            out['error'] = str(e)
    else:
        ctx = ssl.create_default_context(cafile=cafile)
        class C(imaplib.IMAP4_SSL):
            def _create_socket(self, timeout):
                sock = socket.create_connection((address, 993), timeout)
                return self.ssl_context.wrap_socket(sock, server_hostname=name)
        c = C(name, 993, ssl_context=ctx, timeout=20)
        out['certSha256'] = hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()
        started = time.monotonic()
        try:
            c.login(user, password)
        except imaplib.IMAP4.error as e:
            out['ok'] = False
            out['error'] = str(e)
        else:
            out['ok'] = True
            out['loginMs'] = round((time.monotonic() - started) * 1000, 1)
            c.select('INBOX', readonly=True)
            typ, data = c.search(None, 'ALL')
            subjects = []
            for num in data[0].split():
                typ, msg = c.fetch(num, '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                raw = msg[0][1].decode().strip().replace('Subject: ', '')
                subjects.append(str(make_header(decode_header(raw))))
            out['subjects'] = subjects
            c.logout()
except Exception as e:
    out['ok'] = False
    out['error'] = type(e).__name__ + ': ' + str(e)
print(json.dumps(out))
`;

export interface ImapAnswer {
  ok: boolean;
  error?: string;
  subjects?: string[];
  loginMs?: number;
  certSha256?: string;
  capabilities?: string[];
}

/** IMAPS on 993 as `user` (the certificate verified for `name`), or a plaintext login on 143 (`plain143`). */
export async function imap(
  action: 'read' | 'plain143',
  server: { address: string; name: string; ca: string },
  user: string,
  password: string,
): Promise<ImapAnswer> {
  const { stdout } = await run('python3', ['-c', IMAP_PY, action, server.address, server.name, server.ca, user, password], {
    timeout: 60_000,
  });
  return JSON.parse(stdout) as ImapAnswer;
}

/** A CA and a certificate for `name`, made with openssl in `dir`. */
export async function testCertificate(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  mkdirSync(dir, { recursive: true });
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'privkey.pem');
  const csr = join(dir, 'req.csr');
  const cert = join(dir, 'fullchain.pem');
  const ext = join(dir, 'ext.cnf');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=up mail test CA',
    '-keyout',
    caKey,
    '-out',
    ca,
  ]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
  writeFileSync(ext, `subjectAltName=DNS:${name}\n`);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { ca, cert, key };
}

/**
 * The lab mail host's service certificate for `name`, where `up certs create --service
 * postfix|dovecot` installs it; `ca` verifies it, `dir` holds both (the caller removes it).
 */
export async function installMailCertificate(host: { dir: string }, name: string): Promise<{ dir: string; ca: string; cert: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'up-mail-cert-'));
  const made = await testCertificate(dir, name);
  for (const service of ['postfix', 'dovecot']) {
    const target = join(host.dir, 'private/etc/up/tls', service);
    mkdirSync(target, { recursive: true });
    copyFileSync(made.cert, join(target, 'fullchain.pem'));
    copyFileSync(made.key, join(target, 'privkey.pem'));
  }
  return { dir, ca: made.ca, cert: made.cert };
}
