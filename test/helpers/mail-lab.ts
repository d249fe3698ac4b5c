/**
 * A mail host in a lab host (postfix, dovecot, opendkim and mlmmj with private state), its service
 * certificate installed where `up certs create --service postfix|dovecot` puts it, a stack that
 * knows it as a host of role mail, and tenants with tokens; plus what a person uses on it: swaks
 * to send, IMAPS to read, and the mail host's handlers run directly (a health check, a repair).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { HostConnector } from '../../handlers/runtime/connector.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import { labHosts, type Lab, type LabHost, type LabOptions } from './lab-hosts.ts';
import { imap, installMailCertificate, MAIL_PRIVATE_DIRS, sendFromOutside } from './mail.ts';
import { stackApi } from './stack-api.ts';
import { startStack } from './stack.ts';
import { tenantsWithTokens } from './tenants.ts';

export type MailLab = Awaited<ReturnType<typeof startMailLab>>;

export async function startMailLab(
  options: Required<Pick<LabOptions, 'prefix' | 'subnet' | 'bridge'>> & { mx: string; tenants: string[] },
) {
  const cleanups: (() => Promise<void> | void)[] = [];
  const down = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const lab: Lab = await labHosts(1, { ...options, privateDirs: MAIL_PRIVATE_DIRS });
    cleanups.push(() => lab.down());
    const host: LabHost = lab.hosts[0];
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    const made = await installMailCertificate(host, options.mx);
    cleanups.push(() => rmSync(made.dir, { recursive: true, force: true }));
    const stack = await startStack();
    cleanups.push(() => stack.shutdown());
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['mail'],
      labels: JSON.stringify({ 'mail.hostname': options.mx }),
    });
    const tokens = await tenantsWithTokens(db, options.tenants);
    const server = { address: host.address, name: options.mx, ca: made.ca };
    const connector = new HostConnector(host.privateKeyFile);
    cleanups.push(() => connector.close());
    return {
      host,
      stack,
      db,
      server,
      tokens,
      ...stackApi(() => stack, tokens),
      /** The SHA-256 of the certificate the host should serve (DER). */
      certSha256: createHash('sha256')
        .update(Buffer.from(readFileSync(made.cert, 'utf8').split('-----')[2].replace(/\s+/g, ''), 'base64'))
        .digest('hex'),
      /** swaks from outside to port 25: every line of the dialogue, and its exit code. */
      send: (mail: { from: string; to: string; subject: string; body?: string }) => sendFromOutside(host.address, mail),
      /** The subjects a mailbox holds, once `subject` is among them or 4 s passed (delivery follows 250). */
      async inbox(user: string, password: string, subject?: string): Promise<string[]> {
        for (let i = 0; ; i++) {
          const answer = await imap('read', server, user, password);
          if (!answer.ok) throw new Error(`${user}: ${answer.error}`);
          if (!subject || answer.subjects!.includes(subject) || i === 40) return answer.subjects!;
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      /** Stops a daemon of the host by the pid file it keeps (a path on the host), and waits until it is gone. */
      async stop(pidFile: string): Promise<void> {
        const pid = Number(readFileSync(join(host.dir, 'private', pidFile), 'utf8'));
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(pid, 0);
          } catch {
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`${pidFile}: process ${pid} did not stop`);
      },
      /** A handler's context as the runtime makes it, reaching the lab host. */
      handlerContext: () => ({
        signal: new AbortController().signal,
        log: pino({ level: 'silent' }),
        job: { id: randomUUID(), attempt: 1, tenant: null, actor: 'test', target: null },
        connect: (h: HostRef) => connector.connect(h),
      }),
      down,
    };
  } catch (error) {
    await down();
    throw error;
  }
}
