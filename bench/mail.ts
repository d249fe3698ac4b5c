/**
 * Mail on real postfix + dovecot, on a lab host of its own:
 * - request → a new mailbox receives a message: `POST /v1/mail/boxes`, its job, swaks to it,
 *   until the message is in its Maildir (and the part after the job succeeded), next to the raw
 *   way over the same SSH path: the map edited by hand + `postmap` and the passwd-file line, with
 *   the reloads that make both daemons see them at once (as up does), then the same swaks and
 *   wait; p50/p99 of each;
 * - adding one mailbox (request → job succeeded) on a host serving ~10 (runs + 5) and on one
 *   serving 10,000 (loaded by one bulk INSERT into mail_boxes, then one apply), with each job's
 *   stages (gateway, queue, handler, recorder);
 * - delivery rate of 1,000 messages (postfix's smtp-source, 20 sessions) into a mailbox of that
 *   host through up's maps, against the same delivery with the maps written by hand.
 * Run directly (as root): node --import tsx bench/mail.ts   (UP_BENCH_MAIL_RUNS=10,
 * UP_BENCH_MAIL_BOXES=10000, UP_BENCH_MAIL_MESSAGES=1000)
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { setUserLimits } from '../gateway/users/store.ts';
import { homeOf, MAPS_DIR, USERS_FILE } from '../handlers/mail/maps.ts';
import { HostConnector } from '../handlers/runtime/connector.ts';
import { sha512Crypt } from '../lib/password-hash.ts';
import { sh } from '../lib/exec/index.ts';
import { labHosts, registerLabHost, type LabHost } from '../test/helpers/lab-hosts.ts';
import { MAIL_PRIVATE_DIRS, sendFromOutside } from '../test/helpers/mail.ts';
import { stackApi, type Json } from '../test/helpers/stack-api.ts';
import { startStack } from '../test/helpers/stack.ts';
import { tenantsWithTokens } from '../test/helpers/tenants.ts';
import { line, percentiles, round } from './stats.ts';

const run = promisify(execFile);
const TENANT = 'mailbench';
const DOMAIN = 'bench-mail.test';
const VMAIL = '/var/vmail';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Messages in a Maildir of the lab host (new/ and cur/), 0 while it does not exist. */
function maildirCount(host: LabHost, home: string): number {
  const dir = join(host.dir, 'private', home, 'Maildir');
  let n = 0;
  for (const sub of ['new', 'cur']) {
    try {
      n += readdirSync(join(dir, sub)).length;
    } catch {
      // not made yet: dovecot makes it with the first delivery
    }
  }
  return n;
}

async function untilDelivered(host: LabHost, home: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (maildirCount(host, home) < count) {
    if (Date.now() > deadline) {
      const log = readFileSync(join(host.dir, 'private/var/log/postfix.log'), 'utf8').split('\n').slice(-8).join('\n');
      throw new Error(`${home}: ${maildirCount(host, home)} of ${count} messages after ${timeoutMs} ms; postfix.log:\n${log}`);
    }
    await sleep(2);
  }
}

const sendOne = async (host: LabHost, to: string) => {
  const sent = await sendFromOutside(host.address, { from: 'sender@example.org', to });
  if (sent.code !== 0)
    throw new Error(
      `swaks to ${to}: ${sent.out
        .split('\n')
        .filter((l) => l.startsWith('<'))
        .slice(-2)
        .join(' | ')}`,
    );
};

/** A job's stages from its row: gateway (request → its transaction began), queue (the transaction, publish, consume), handler, recorder. */
async function stagesOf(db: Knex, id: string, sent: number) {
  const r = await db('jobs').where({ id }).first('created_at', 'finished_at', 'duration_ms', 'updated_at');
  const finished = (r.finished_at as Date).getTime();
  const started = finished - Number(r.duration_ms);
  return {
    gateway: (r.created_at as Date).getTime() - sent,
    queue: started - (r.created_at as Date).getTime(),
    handler: finished - started,
    recorder: (r.updated_at as Date).getTime() - finished,
  };
}

const medians = (rows: Record<string, number>[]) =>
  Object.fromEntries(Object.keys(rows[0]).map((k) => [k, round(percentiles(rows.map((r) => r[k])).p50, 1)]));

export async function benchMail(options: { runs?: number; boxes?: number; messages?: number } = {}): Promise<Record<string, unknown>> {
  const runs = options.runs ?? Number(process.env.UP_BENCH_MAIL_RUNS ?? 10);
  const boxes = options.boxes ?? Number(process.env.UP_BENCH_MAIL_BOXES ?? 10_000);
  const messages = options.messages ?? Number(process.env.UP_BENCH_MAIL_MESSAGES ?? 1_000);
  const lab = await labHosts(1, { prefix: 'up-mb', subnet: '10.77.74', bridge: 'uplab74', privateDirs: MAIL_PRIVATE_DIRS });
  const [host] = lab.hosts;
  const connector = new HostConnector(host.privateKeyFile);
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  try {
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack();
    const db = stack.database!.knex;
    await registerLabHost(db, host, ['mail']);
    await db('hosts')
      .where({ name: host.name })
      .update({ labels: JSON.stringify({ 'mail.hostname': 'mx.bench-mail.test' }) });
    const tokens = await tenantsWithTokens(db, [TENANT]);
    const owner: string = (await db('users').where({ name: TENANT }).first('id')).id;
    await setUserLimits(db, owner, { mailDomains: 5, mailboxes: boxes + 1000, mailQuotaMb: 10_000_000 });
    const { api, succeeded } = stackApi(() => stack, tokens);
    const tenant = api(TENANT);
    await succeeded(await tenant('POST', '/v1/mail/domains', { name: DOMAIN }), TENANT);
    const domainId: string = (await db('mail_domains').where({ name: DOMAIN }).first('id')).id;
    const password = `bench-${crypto.randomUUID()}`;

    /** POST a mailbox until its job succeeded: the job's id, when the request was sent, the mailbox's home. */
    const addBox = async (address: string) => {
      const sent = Date.now();
      const t = performance.now();
      const body: Json = await succeeded(await tenant('POST', '/v1/mail/boxes', { address, password, quotaMb: 10 }), TENANT);
      const box = await db('mail_boxes').where({ address }).first('id');
      return {
        ms: performance.now() - t,
        at: performance.now(),
        job: body.jobs[0].id as string,
        sent,
        home: homeOf(VMAIL, { domainId, id: box.id }),
      };
    };

    // Request → a new mailbox receives a message, through up.
    const viaUp: number[] = [];
    const afterJob: number[] = [];
    const accepted: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const added = await addBox(`r${i}@${DOMAIN}`);
      await sendOne(host, `r${i}@${DOMAIN}`);
      accepted.push(performance.now() - added.at);
      await untilDelivered(host, added.home, 1);
      viaUp.push(performance.now() - t);
      afterJob.push(performance.now() - added.at);
    }

    // The raw way over the same SSH path: the map line, postmap, the passwd-file line, the reloads; then the same swaks and wait.
    const exec = connector.connect({
      name: host.name,
      address: host.address,
      port: host.port,
      user: host.user,
      hostKeySha256: host.hostKeySha256,
    });
    await exec.run(sh`true`);
    const hash = await sha512Crypt(password);
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      const address = `raw${i}@${DOMAIN}`;
      const home = `${VMAIL}/raw/${i}`;
      const t = performance.now();
      await exec.runScript([
        sh`printf '%s OK\n' ${address} >> ${`${MAPS_DIR}/mailboxes`}`,
        sh`postmap ${`hash:${MAPS_DIR}/mailboxes`}`,
        // A running smtpd sees a changed map only after its next request: without a reload the first RCPT may still be refused.
        sh`postfix reload 2>/dev/null`,
        sh`printf '%s\n' ${`${address}:{SHA512-CRYPT}${hash}::::${home}::userdb_quota_rule=*:storage=10M`} >> ${USERS_FILE}`,
        // dovecot stats its passwd-file at most once a second: a line added in the second of a lookup is unseen until then.
        sh`doveadm reload`,
      ]);
      await sendOne(host, address);
      await untilDelivered(host, home, 1);
      raw.push(performance.now() - t);
    }
    const up = percentiles(viaUp);
    const byHand = percentiles(raw);
    const after = percentiles(afterJob);
    console.log(line('request → new mailbox receives (ms)', up));
    console.log(line('  of which after its job succeeded (ms)', { ...after, target: '< 1000' }));
    console.log(line('    of which until swaks had its 250 (ms)', percentiles(accepted)));
    console.log(line('raw map line + postmap + reloads, swaks (ms)', byHand));

    // Adding one mailbox next to `runs` others, then next to `boxes` others.
    const addSome = async (prefix: string, n: number) => {
      const samples: number[] = [];
      const stages: Record<string, number>[] = [];
      for (let i = 0; i < n; i++) {
        const added = await addBox(`${prefix}${i}@${DOMAIN}`);
        samples.push(added.ms);
        stages.push(await stagesOf(db, added.job, added.sent));
      }
      return { ...percentiles(samples), stages: medians(stages) };
    };
    const atFew = await addSome('few', 5);
    const loadStarted = performance.now();
    const rows = Array.from({ length: boxes }, (_, i) => ({
      id: crypto.randomUUID(),
      address: `m${i}@${DOMAIN}`,
      domain_id: domainId,
      owner_id: owner,
      password_hash: hash,
      quota_mb: 10,
      enabled: true,
      generation: 0,
    }));
    await db.batchInsert('mail_boxes', rows, 1000);
    const loadMs = performance.now() - loadStarted;
    const first = await addBox(`first@${DOMAIN}`);
    const atMany = await addSome('many', 5);
    console.log(line(`add one mailbox at ${runs + 5} (ms)`, { p50: atFew.p50, p99: atFew.p99, ...atFew.stages }));
    console.log(line(`add one mailbox at ${boxes} (ms)`, { p50: atMany.p50, p99: atMany.p99, ...atMany.stages }));
    console.log(
      line('ratio (target < 2)', {
        p50: round(atMany.p50 / atFew.p50),
        load: `${boxes} rows ${round(loadMs)} ms`,
        firstApplyMs: round(first.ms),
      }),
    );

    // Delivery: `messages` messages by smtp-source into one mailbox, through up's maps, then with maps written by hand.
    const deliver = async (to: string, home: string) => {
      const before = maildirCount(host, home);
      const t = performance.now();
      await run('smtp-source', [
        '-s',
        '20',
        '-m',
        String(messages),
        '-l',
        '2048',
        '-f',
        'sender@example.org',
        '-t',
        to,
        `${host.address}:25`,
      ]);
      await untilDelivered(host, home, before + messages, 300_000);
      return messages / ((performance.now() - t) / 1000);
    };
    const upRate = await deliver(`first@${DOMAIN}`, first.home);
    // By hand: the domain, the 10,000 mailboxes and no aliases, postmapped; postfix reloaded to read them.
    const all: { address: string; id: string }[] = await db('mail_boxes').where({ domain_id: domainId }).select('address', 'id');
    const handMaps = {
      domains: `${DOMAIN} OK\n`,
      mailboxes: all.map((b) => `${b.address} OK\n`).join(''),
      aliases: '',
    };
    for (const [name, content] of Object.entries(handMaps)) await exec.run(sh`cat > ${`${MAPS_DIR}/${name}`}`, { stdin: content });
    await exec.run(sh`cat > ${USERS_FILE}`, {
      stdin: all
        .map((b) => `${b.address}:{SHA512-CRYPT}${hash}::::${homeOf(VMAIL, { domainId, id: b.id })}::userdb_quota_rule=*:storage=10M\n`)
        .join(''),
    });
    await exec.runScript([
      ...Object.keys(handMaps).map((name) => sh`postmap ${`hash:${MAPS_DIR}/${name}`}`),
      sh`postfix reload 2>/dev/null`,
    ]);
    await sleep(1000);
    const handRate = await deliver(`first@${DOMAIN}`, first.home);
    console.log(line(`deliver ${messages} messages, up's maps (msg/s)`, { rate: round(upRate, 1) }));
    console.log(line(`deliver ${messages} messages, maps by hand (msg/s)`, { rate: round(handRate, 1) }));
    console.log(line('ratio (target ≥ 0.9)', { rate: round(upRate / handRate) }));
    return {
      runs,
      viaUp: up,
      afterJob: after,
      acceptedAfterJob: percentiles(accepted),
      raw: byHand,
      addAtFew: atFew,
      addAtMany: atMany,
      boxes,
      addRatio: round(atMany.p50 / atFew.p50),
      loadMs: round(loadMs),
      firstApplyMs: round(first.ms),
      messages,
      upRate: round(upRate, 1),
      handRate: round(handRate, 1),
      rateRatio: round(upRate / handRate),
    };
  } finally {
    await connector.close();
    await stack?.shutdown();
    await lab.down();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) console.log(JSON.stringify(await benchMail()));
