/**
 * mail.apply: one host's postfix and dovecot converge to the state in the message, in few round
 * trips (the host may be far): one look at what is there (generation, checksums), one upload per
 * file that differs (to `<file>.up-new`), and one script that postmaps the new maps, renames
 * every file into place, and starts or reloads only what needs it. A changed map reloads postfix:
 * its daemons notice a changed map only after serving the request at hand, so the first mail after
 * a change could still be routed by the old map (a new list's first post went to dovecot and
 * bounced). A changed passwd-file is read by dovecot within a second (usersFileSeen).
 */
import { createHash } from 'node:crypto';
import { sh, type Command, type Executor } from '../../../lib/exec/index.ts';
import { SupersededError } from '../../../lib/errors.ts';
import { render } from '../../../lib/render.ts';
import { DKIM_PUBLIC_KEY, DKIM_SELECTOR, mailApply } from '../../../queues/mail/ops.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import {
  DKIM_KEYS_DIR,
  DKIM_PENDING_FILE,
  dkimKeyOf,
  dkimPublicOf,
  DOVECOT_PID,
  GENERATION_FILE,
  listDir,
  MAPS_DIR,
  MLMMJ_SPOOL,
  MLMMJ_USER,
  MLMMJ_WRITABLE,
  OPENDKIM_CONF,
  OPENDKIM_DIR,
  OPENDKIM_PID,
  OPENDKIM_SOCKET_DIR,
  OPENDKIM_USER,
  renderDkim,
  renderList,
  renderMaps,
  SUMS_FILE,
  USERS_FILE,
} from '../maps.ts';
import { ensureProbeMailbox, PROBE_USER, PROBE_USERS_FILE } from '../probe-mailbox.ts';

type Payload = PayloadOf<typeof mailApply>;

const NEW = '.up-new';

interface Wanted {
  path: string;
  content: string;
  mode: string;
  group: string;
  /** A postfix map: postmapped before it goes live. */
  map?: boolean;
  /** Which daemon must reload when it changes. */
  reload?: Daemon;
}

type Daemon = 'postfix' | 'dovecot' | 'opendkim';

/** postfix's milter address of opendkim's socket: relative to its queue directory, as chrooted services would need too. */
const MILTER = `unix:${OPENDKIM_SOCKET_DIR.replace('/var/spool/postfix/', '')}/opendkim.sock`;

/** Keys one apply makes at most (about 0.2 s each): the rest, unsigned until then, on the next apply. */
export const DKIM_KEYS_PER_APPLY = 100;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The files the host should hold. `signable`: the domains whose key is on the host (or made by
 * this apply); opendkim's tables name only those, never a key file that is not there.
 */
export function wantedFiles(payload: Pick<Payload, 'layout' | 'state'>, signable?: ReadonlySet<string>): Wanted[] {
  const { layout, state } = payload;
  const maps = renderMaps(payload);
  const dkim = renderDkim({ state: signable ? { ...state, domains: state.domains.filter((d) => signable.has(d.id)) } : state });
  const opendkim = { user: OPENDKIM_USER, dir: OPENDKIM_DIR, socket: `${OPENDKIM_SOCKET_DIR}/opendkim.sock`, pid: OPENDKIM_PID };
  return [
    {
      path: '/etc/postfix/main.cf',
      content: render('nginx', 'mail/main.cf.mustache', { ...layout, milter: MILTER }),
      mode: '0644',
      group: 'root',
      reload: 'postfix',
    },
    {
      path: '/etc/postfix/master.cf',
      content: render('nginx', 'mail/master.cf.mustache', { ...layout, milter: MILTER }),
      mode: '0644',
      group: 'root',
      reload: 'postfix',
    },
    {
      path: '/etc/dovecot/dovecot.conf',
      content: render('nginx', 'mail/dovecot.conf.mustache', { ...layout, probe: { usersFile: PROBE_USERS_FILE, user: PROBE_USER } }),
      mode: '0644',
      group: 'root',
      reload: 'dovecot',
    },
    { path: `${MAPS_DIR}/domains`, content: maps.domains, mode: '0644', group: 'root', map: true, reload: 'postfix' },
    { path: `${MAPS_DIR}/mailboxes`, content: maps.mailboxes, mode: '0644', group: 'root', map: true, reload: 'postfix' },
    { path: `${MAPS_DIR}/aliases`, content: maps.aliases, mode: '0644', group: 'root', map: true, reload: 'postfix' },
    { path: `${MAPS_DIR}/transport`, content: maps.transport, mode: '0644', group: 'root', map: true, reload: 'postfix' },
    {
      path: OPENDKIM_CONF,
      content: render('nginx', 'mail/opendkim.conf.mustache', opendkim),
      mode: '0644',
      group: 'root',
      reload: 'opendkim',
    },
    { path: `${OPENDKIM_DIR}/key.table`, content: dkim.keyTable, mode: '0644', group: 'root', reload: 'opendkim' },
    { path: `${OPENDKIM_DIR}/signing.table`, content: dkim.signingTable, mode: '0644', group: 'root', reload: 'opendkim' },
    // No client address is internal: only authenticated submissions are signed.
    { path: `${OPENDKIM_DIR}/internal-hosts`, content: '', mode: '0644', group: 'root', reload: 'opendkim' },
    // Hashes only, readable by root and dovecot's auth process (read within a second: usersFileSeen).
    { path: USERS_FILE, content: maps.users, mode: '0640', group: 'dovecot' },
    // The lists' addresses and members: mlmmj reads them, only up writes them.
    ...payload.state.lists.flatMap((list) => renderList(list).files.map((f) => ({ ...f, mode: '0644', group: MLMMJ_USER }))),
  ];
}

/**
 * dovecot's auth stats its passwd-file at most once per second of its clock: a lookup in the
 * second the file was renamed may have come before the rename, and the next ones in that second
 * would not know a new mailbox (its first mail bounced by LMTP). So the job ends once that second
 * is over (a reload would make it read the file at once, at the price of restarting dovecot's
 * processes on every mailbox change).
 */
const usersFileSeen: Command = sh`while [ "$(date +%s)" -le "$users_renamed" ]; do sleep 0.05; done`;

/** A new list's spool as mlmmj-make-ml lays it out, with the English texts; mlmmj writes only in its own directories. */
function makeListSpool(list: { id: string }): Command[] {
  const dir = listDir(list);
  return [
    sh`install -d -m 0750 -o ${MLMMJ_USER} -g ${MLMMJ_USER} ${dir}`,
    sh`install -d -m 0755 ${`${dir}/control`} ${`${dir}/text`} ${`${dir}/subscribers.d`}`,
    sh`install -d -m 0750 -o ${MLMMJ_USER} -g ${MLMMJ_USER} ${MLMMJ_WRITABLE.map((d) => `${dir}/${d}`)}`,
    sh`install -m 0640 -o ${MLMMJ_USER} -g ${MLMMJ_USER} /dev/null ${`${dir}/index`}`,
    sh`cp /usr/share/mlmmj/text.skel/en/* ${`${dir}/text/`}`,
  ];
}

/** The spools of lists the state no longer has: `<list id>` directories only. */
export function staleLists(payload: Pick<Payload, 'state'>, dirs: readonly string[]): string[] {
  const lists = new Set(payload.state.lists.map((l) => l.id));
  return dirs.filter((d) => DOMAIN_DIR.test(d) && !lists.has(d)).sort();
}

/** What is on the host: the applied generation, each file's checksum, whether each map's .db and each certificate exist. */
async function inspect(exec: Executor, files: Wanted[], layout: Payload['layout']) {
  const paths = files.map((f) => f.path);
  const dbs = files.filter((f) => f.map).map((f) => `${f.path}.db`);
  const certs = ['postfix', 'dovecot'].map((s) => `${layout.tlsDir}/${s}/fullchain.pem`);
  const { stdout } = await exec.runScript([
    sh`echo "generation $(cat ${GENERATION_FILE} 2>/dev/null || echo 0)"`,
    sh`sha256sum ${paths} 2>/dev/null || true`,
    sh`for f in ${[...dbs, ...certs]}; do if [ -s "$f" ]; then echo "present $f"; fi; done`,
    sh`if [ -d ${layout.vmailRoot} ]; then cd ${layout.vmailRoot} && find . -mindepth 1 -maxdepth 2 -type d | sed 's/^/dir /'; fi`,
    sh`if [ -d ${MLMMJ_SPOOL} ]; then cd ${MLMMJ_SPOOL} && find . -mindepth 1 -maxdepth 1 -type d | sed 's/^/list /'; fi`,
    sh`if [ -d ${DKIM_KEYS_DIR} ]; then cd ${DKIM_KEYS_DIR} && find . -mindepth 1 -maxdepth 1 -type f -size +0 | sed 's/^/key /'; fi`,
  ]);
  const sums = new Map<string, string>();
  const present = new Set<string>();
  const dirs: string[] = [];
  const lists: string[] = [];
  const keyFiles = new Set<string>();
  let generation = 0;
  for (const line of stdout.split('\n')) {
    const gen = /^generation (\d+)$/.exec(line);
    if (gen) generation = Number(gen[1]);
    const sum = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (sum) sums.set(sum[2], sum[1]);
    if (line.startsWith('present ')) present.add(line.slice('present '.length));
    if (line.startsWith('dir ./')) dirs.push(line.slice('dir ./'.length));
    if (line.startsWith('list ./')) lists.push(line.slice('list ./'.length));
    if (line.startsWith('key ./')) keyFiles.add(line.slice('key ./'.length));
  }
  // A domain has a key when both halves are there (a half-made pair is made again).
  const keys = [...keyFiles]
    .filter((f) => f.endsWith('.private') && keyFiles.has(f.replace(/\.private$/, '.public')))
    .map((f) => f.slice(0, -'.private'.length));
  return { generation, sums, present, dirs, lists, keys, keyFiles: [...keyFiles] };
}

/** A self-signed pair where no service certificate is installed yet (up certs create --service replaces it). */
function placeholderCertificate(layout: Payload['layout'], service: string): Command[] {
  const dir = `${layout.tlsDir}/${service}`;
  return [
    sh`install -d -m 0755 ${dir}`,
    sh`openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj ${`/CN=${layout.hostname}`} -addext ${`subjectAltName=DNS:${layout.hostname}`} -keyout ${`${dir}/privkey.pem${NEW}`} -out ${`${dir}/fullchain.pem${NEW}`} 2>/dev/null`,
    sh`chmod 0600 ${`${dir}/privkey.pem${NEW}`}`,
    sh`mv -f ${`${dir}/privkey.pem${NEW}`} ${`${dir}/privkey.pem`}`,
    sh`mv -f ${`${dir}/fullchain.pem${NEW}`} ${`${dir}/fullchain.pem`}`,
  ];
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const DOMAIN_DIR = new RegExp(`^${UUID}$`);
const BOX_DIR = new RegExp(`^${UUID}/${UUID}$`);
const DKIM_FILE = new RegExp(`^${UUID}\\.(private|public)$`);

/**
 * The Maildirs of mailboxes and domains the state no longer has (deleted, or their domain
 * deleted with force): `<domain id>` and `<domain id>/<mailbox id>` directories only, so
 * nothing else under the vmail root is ever touched.
 */
export function staleMaildirs(payload: Pick<Payload, 'state'>, dirs: readonly string[]): string[] {
  const domains = new Set(payload.state.domains.map((d) => d.id));
  const boxes = new Set(payload.state.boxes.map((b) => `${b.domainId}/${b.id}`));
  const goneDomains = dirs.filter((d) => DOMAIN_DIR.test(d) && !domains.has(d));
  const goneBoxes = dirs.filter((d) => BOX_DIR.test(d) && domains.has(d.slice(0, 36)) && !boxes.has(d));
  return [...goneDomains, ...goneBoxes].sort();
}

/**
 * A domain's DKIM key, made on the host: RSA 2048 (what every verifier accepts), written under a
 * new name with umask 077, owned by opendkim and 0600 before it is renamed into place; its public
 * half (the p= value) beside it. The private key is never read back, logged or sent.
 */
function makeDkimKey(domain: { id: string }): Command[] {
  const key = dkimKeyOf(domain);
  const pub = dkimPublicOf(domain);
  return [
    sh`rm -f -- ${`${key}${NEW}`} ${`${pub}${NEW}`}`,
    sh`(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ${`${key}${NEW}`} 2>/dev/null)`,
    sh`chown ${`${OPENDKIM_USER}:${OPENDKIM_USER}`} ${`${key}${NEW}`}`,
    sh`chmod 0600 ${`${key}${NEW}`}`,
    sh`openssl pkey -in ${`${key}${NEW}`} -pubout -outform DER | base64 -w0 > ${`${pub}${NEW}`}`,
    sh`chmod 0644 ${`${pub}${NEW}`}`,
    sh`mv -f ${`${pub}${NEW}`} ${pub}`,
    sh`mv -f ${`${key}${NEW}`} ${key}`,
  ];
}

/** The key files of domains the state no longer has: `<domain id>.{private,public}` only. */
export function staleDkimKeys(payload: Pick<Payload, 'state'>, files: readonly string[]): string[] {
  const domains = new Set(payload.state.domains.map((d) => d.id));
  return files.filter((f) => DKIM_FILE.test(f) && !domains.has(f.slice(0, 36))).sort();
}

/** `dkim <domain id> <public key>` lines of the script's output, as the result carries them. */
export function parseDkimLines(stdout: string): NonNullable<ResultOf<typeof mailApply>['dkim']> {
  const publicKey = new RegExp(DKIM_PUBLIC_KEY);
  return stdout
    .split('\n')
    .map((line) => /^dkim ([0-9a-f-]{36}) (\S+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && DOMAIN_DIR.test(m[1]) && publicKey.test(m[2]))
    .map((m) => ({ domainId: m[1], selector: DKIM_SELECTOR, publicKey: m[2] }));
}

/** Each list's policy: mlmmj's switch files made or removed (their existence is the setting). */
function listSwitches(payload: Pick<Payload, 'state'>): Command[] {
  const flags = payload.state.lists.flatMap((list) => renderList(list).flags);
  const on = flags.filter((f) => f.on).map((f) => f.path);
  const off = flags.filter((f) => !f.on).map((f) => f.path);
  return [...(on.length ? [sh`touch ${on}`] : []), ...(off.length ? [sh`rm -f -- ${off}`] : [])];
}

export async function applyMail(payload: Payload, ctx: HandlerContext): Promise<ResultOf<typeof mailApply>> {
  const { layout, generation } = payload;
  const exec = ctx.connect(payload.host);
  return exec.withLock('up-mail', async () => {
    // The paths are the same whatever the tables hold: what is there decides their content.
    const seen = await inspect(exec, wantedFiles(payload), layout);
    if (seen.generation > generation) throw new SupersededError(`generation ${seen.generation} is already applied on ${exec.host}`);
    const haveKeys = new Set(seen.keys);
    // A host taking many domains at once (its first apply after an upgrade) makes their keys over several applies.
    const missingKeys = payload.state.domains.filter((d) => !haveKeys.has(d.id));
    const newKeys = missingKeys.slice(0, DKIM_KEYS_PER_APPLY);
    const signable = new Set([...payload.state.domains.filter((d) => haveKeys.has(d.id)), ...newKeys].map((d) => d.id));
    const files = wantedFiles(payload, signable);
    const changed = files.filter((f) => seen.sums.get(f.path) !== sha256(f.content) || (f.map && !seen.present.has(`${f.path}.db`)));
    const stale = staleMaildirs(payload, seen.dirs);
    const staleListDirs = staleLists(payload, seen.lists);
    const newLists = payload.state.lists.filter((l) => !seen.lists.includes(l.id));
    const missingCerts = ['postfix', 'dovecot'].filter((s) => !seen.present.has(`${layout.tlsDir}/${s}/fullchain.pem`));
    const staleKeys = staleDkimKeys(payload, seen.keyFiles);
    // The public keys the gateway lacks: the new ones, and any it does not hold yet.
    const report = payload.state.domains.filter((d) => signable.has(d.id) && (!haveKeys.has(d.id) || !d.dkimKnown));

    await exec.runScript([
      sh`command -v postfix >/dev/null && command -v dovecot >/dev/null && command -v opendkim >/dev/null || { echo 'postfix, dovecot or opendkim is not installed: up hosts prepare' >&2; exit 1; }`,
      sh`install -d -m 0750 -o ${layout.vmailUid} -g ${layout.vmailUid} ${layout.vmailRoot}`,
      sh`install -d -m 0755 ${MAPS_DIR} ${OPENDKIM_DIR}`,
      // Keys: opendkim's alone. The socket's directory: group postfix (setgid, so the socket is too), nobody else.
      sh`install -d -m 0700 -o ${OPENDKIM_USER} -g ${OPENDKIM_USER} ${DKIM_KEYS_DIR}`,
      sh`install -d -m 2750 -o ${OPENDKIM_USER} -g postfix ${OPENDKIM_SOCKET_DIR}`,
      sh`install -d -m 0750 -o ${OPENDKIM_USER} -g ${OPENDKIM_USER} ${OPENDKIM_PID.slice(0, OPENDKIM_PID.lastIndexOf('/'))}`,
      ...newKeys.flatMap(makeDkimKey),
      ...(payload.state.lists.length
        ? [
            sh`command -v mlmmj-receive >/dev/null || { echo 'mlmmj is not installed: up hosts prepare' >&2; exit 1; }`,
            sh`install -d -m 0755 ${MLMMJ_SPOOL}`,
          ]
        : []),
      ...newLists.flatMap(makeListSpool),
    ]);
    for (const file of changed) await exec.run(sh`umask 077 && cat > ${`${file.path}${NEW}`}`, { stdin: file.content });

    const restartOpendkim = changed.some((f) => f.path === OPENDKIM_CONF) ? 1 : 0;
    const reload = (daemon: Daemon) =>
      changed.some((f) => f.reload === daemon) || (daemon === 'opendkim' && (newKeys.length > 0 || staleKeys.length > 0)) ? 1 : 0;
    const { stdout } = await exec.runScript(
      [
        ...missingCerts.flatMap((service) => placeholderCertificate(layout, service)),
        ...changed.flatMap((f) => [
          sh`chown ${`root:${f.group}`} ${`${f.path}${NEW}`}`,
          sh`chmod ${f.mode} ${`${f.path}${NEW}`}`,
          ...(f.map
            ? [
                sh`postmap ${`hash:${f.path}${NEW}`}`,
                sh`chmod 0644 ${`${f.path}${NEW}.db`}`,
                sh`mv -f ${`${f.path}${NEW}.db`} ${`${f.path}.db`}`,
              ]
            : []),
          sh`mv -f ${`${f.path}${NEW}`} ${f.path}`,
          ...(f.path === USERS_FILE ? [sh`users_renamed=$(date +%s)`] : []),
        ]),
        // After the maps went live: nothing delivers into a removed mailbox any more.
        ...stale.map((dir) => sh`rm -rf -- ${`${layout.vmailRoot}/${dir}`}`),
        ...staleListDirs.map((id) => sh`rm -rf -- ${`${MLMMJ_SPOOL}/${id}`}`),
        ...listSwitches(payload),
        // opendkim first, so that postfix's submission finds its milter: its tables no longer name a removed domain's key.
        sh`opendkim -n -x ${OPENDKIM_CONF}`,
        // A changed opendkim.conf, or one running without the socket postfix uses (the package's own
        // start under systemd), restarts it: a reload (USR1) rereads the tables but keeps the socket it bound.
        sh`if { [ ${restartOpendkim} = 1 ] || [ ! -S ${`${OPENDKIM_SOCKET_DIR}/opendkim.sock`} ]; } && [ -s ${OPENDKIM_PID} ] && kill -0 "$(cat ${OPENDKIM_PID})" 2>/dev/null; then if [ -d /run/systemd/system ]; then systemctl stop opendkim; else pid=$(cat ${OPENDKIM_PID}); kill "$pid"; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; fi; fi`,
        sh`if [ -s ${OPENDKIM_PID} ] && kill -0 "$(cat ${OPENDKIM_PID})" 2>/dev/null; then if [ ${reload('opendkim')} = 1 ]; then kill -USR1 "$(cat ${OPENDKIM_PID})"; fi; else if [ -d /run/systemd/system ]; then systemctl start opendkim; else opendkim -x ${OPENDKIM_CONF} </dev/null >/dev/null 2>&1; fi; echo started opendkim; fi`,
        ...(staleKeys.length ? [sh`rm -f -- ${staleKeys.map((f) => `${DKIM_KEYS_DIR}/${f}`)}`] : []),
        ...report.map((d) => sh`printf 'dkim %s %s\n' ${d.id} "$(cat ${dkimPublicOf(d)})"`),
        // ~0.6 s of the host's time: only when postfix's own configuration changed (postmap has read the maps).
        ...(changed.some((f) => f.reload === 'postfix' && !f.map) ? [sh`postfix check`] : []),
        sh`if postfix status >/dev/null 2>&1; then if [ ${reload('postfix')} = 1 ]; then postfix reload </dev/null >/dev/null 2>&1; fi; else postfix start </dev/null >/dev/null 2>&1; echo started postfix; fi`,
        ...ensureProbeMailbox(layout.vmailRoot),
        sh`doveconf -n >/dev/null`,
        // dovecot started (it was down): the mail that waited for it is delivered now, not at postfix's next retry (minutes later).
        sh`if [ -s ${DOVECOT_PID} ] && kill -0 "$(cat ${DOVECOT_PID})" 2>/dev/null; then if [ ${reload('dovecot')} = 1 ]; then doveadm reload </dev/null >/dev/null 2>&1; fi; else dovecot </dev/null >/dev/null 2>&1; echo started dovecot; postqueue -f; fi`,
        // What the health check compares the files with (maps edited by hand are drift).
        sh`printf '%s' ${files.map((f) => `${sha256(f.content)}  ${f.path}\n`).join('')} > ${`${SUMS_FILE}${NEW}`}`,
        sh`mv -f ${`${SUMS_FILE}${NEW}`} ${SUMS_FILE}`,
        sh`echo ${missingKeys.length - newKeys.length} > ${DKIM_PENDING_FILE}`,
        sh`echo ${generation} > ${`${GENERATION_FILE}${NEW}`}`,
        sh`mv -f ${`${GENERATION_FILE}${NEW}`} ${GENERATION_FILE}`,
        ...(changed.some((f) => f.path === USERS_FILE) ? [usersFileSeen] : []),
      ],
      { timeoutMs: 60_000 },
    );
    const started = ['postfix', 'dovecot', 'opendkim'].filter((d) => stdout.includes(`started ${d}`));
    const dkim = parseDkimLines(stdout);
    const paths = changed.map((f) => f.path);
    ctx.log.info({ host: exec.host, generation, changed: paths, started }, 'mail host applied');
    if (stale.length) ctx.log.info({ host: exec.host, removed: stale }, 'Maildirs of removed mailboxes deleted');
    if (staleListDirs.length) ctx.log.info({ host: exec.host, removed: staleListDirs }, 'spools of removed lists deleted');
    if (newKeys.length) ctx.log.info({ host: exec.host, domains: newKeys.map((d) => d.name) }, 'DKIM keys made');
    if (missingKeys.length > newKeys.length)
      ctx.log.warn({ host: exec.host, left: missingKeys.length - newKeys.length }, 'DKIM keys left for the next apply');
    if (staleKeys.length) ctx.log.info({ host: exec.host, removed: staleKeys }, 'DKIM keys of removed domains deleted');
    return { host: exec.host, generation, changed: paths, started, placeholderCertificate: missingCerts.length > 0, dkim };
  });
}

/** One job per change of a mail host, carrying its whole state at the new generation. */
export default defineHandler({ op: mailApply, run: applyMail });
